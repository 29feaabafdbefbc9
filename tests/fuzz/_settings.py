"""One Hypothesis profile for this folder, applied per test (no global profile is loaded).

``FUZZ_EXAMPLES`` scales every property (default 150, which keeps the folder under ~10 s on
2 cores); e.g. ``FUZZ_EXAMPLES=20000 pytest tests/fuzz`` for a long local run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a shared 2-core machine: timing is noise
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
