"""The session-wide secret scan (wired up in tests/conftest.py).

:class:`SecretRecorder` scans the formatted text of every log record (at every level, down to
picows' level-9 frame and handshake logs) as it is emitted, and, when the test that made it ends,
the ``str()`` / ``repr()`` of every library exception and the ``repr()`` of each of its attributes
(a close ``reason``, an API ``error`` with its ``message``...). Two kinds of finding:

* a *known* credential: the exact text of every key and token any :class:`ConnectPlan` has held
  (registered with :meth:`SecretRecorder.register_secret`; tokens rotated by a provider on
  reconnect included), whatever its shape;
* a credential *shape* (:func:`find_secrets`):

* ``sk-`` + 8 or more ``[A-Za-z0-9_-]`` (OpenAI keys; the emulator's ``sk-…abcd`` is masked);
* ``ek_`` + 32 hex digits (ephemeral client secrets);
* ``Bearer <token>`` and ``api-key: <value>`` / ``api_key=<value>`` where the value looks like a
  credential: not masked (``***``, ``…``) and not a placeholder (``YOUR_KEY``, ``auth``, ``None``).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from dataclasses import dataclass, field
from types import FrameType

__all__ = ["Finding", "SecretRecorder", "find_known", "find_secrets", "mask"]

_B = r"(?<![A-Za-z0-9_-])"  # a key starts a token: "task-lookup123" holds no key
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("openai-key", re.compile(_B + r"sk-[A-Za-z0-9_-]{8,}")),
    ("ephemeral-key", re.compile(_B + r"ek_[0-9a-fA-F]{32}")),
    ("bearer", re.compile(r"\bBearer[ \t]+(?P<v>[A-Za-z0-9._~+/-]+=*)", re.IGNORECASE)),
    (
        "api-key",
        re.compile(
            r"""\b(?:x-)?api[-_]?key['"]?[ \t]*(?::[ \t]*|=)['"]?(?P<v>[^\s'"*…,;)}\]]+)""",
            re.IGNORECASE,
        ),
    ),
]
# Values after "Bearer" / "api-key:" that are not credentials: a word ("auth", "token",
# "Authorization"), an ALL_CAPS placeholder ("YOUR_KEY"), "<token>" / "{api_key}", None/null,
# or 3 characters and fewer (what is left of a masked "sk-…abcd").
_PLACEHOLDER = re.compile(r"[A-Za-z]{1,20}|[A-Z]+(?:_[A-Z]+)+|<[^>]*>|\{[^}]*\}|None|null|.{0,3}")


def mask(secret: str) -> str:
    """Enough to find it, not enough to use it: ``sk-…(20 chars)``."""
    return f"{secret[:3]}…({len(secret)} chars)"


def find_secrets(text: str) -> list[tuple[str, str]]:
    """``(kind, masked value)`` for every credential-shaped substring of ``text``."""
    found: list[tuple[str, str]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            value = m.groupdict().get("v") or m.group(0)
            if "v" in pattern.groupindex and _PLACEHOLDER.fullmatch(value):
                continue
            found.append((kind, mask(value)))
    return found


def find_known(text: str, known: dict[str, None]) -> list[tuple[str, str]]:
    """``("known-credential", masked)`` for each registered secret that occurs in ``text``."""
    return [("known-credential", mask(s)) for s in known if s in text]


@dataclass(frozen=True)
class Finding:
    source: str
    kind: str
    masked: str


@dataclass
class SecretRecorder:
    """Scans what the session produces; findings (never the texts) are kept, so that a test that
    logs a million frames at level 9 costs no memory here."""

    findings: list[Finding] = field(default_factory=list)
    known: dict[str, None] = field(default_factory=dict)  # registered secrets (ordered set)
    log_records: int = 0
    exceptions: int = 0
    current_test: str = "<session>"
    _pending: list[tuple[str, BaseException]] = field(default_factory=list)

    def register_secret(self, secret: str | None) -> None:
        """Scan every later text for this exact credential (8 characters and more: a shorter
        one would match ordinary words)."""
        if secret and len(secret) >= 8 and secret not in self.known:
            self.known[secret] = None

    def check(self, where: str, text: str) -> None:
        for kind, masked in [*find_secrets(text), *find_known(text, self.known)]:
            self.findings.append(Finding(where, kind, masked))

    # -- log records
    def handler(self) -> logging.Handler:
        recorder = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    text = self.format(record)
                except Exception as exc:  # a bad format string: scan what we can
                    text = f"{record.msg!r} {record.args!r} ({type(exc).__name__})"
                recorder.log_records += 1
                where = f"{recorder.current_test}: log {record.name}:{record.levelname}"
                recorder.check(where, text)

        h = _Handler(logging.NOTSET)
        h.setFormatter(logging.Formatter("%(message)s"))  # Formatter adds exc_info / stack_info
        return h

    # -- library exceptions
    def exception_created(self, exc: BaseException) -> None:
        """Called from the wrapped ``__init__``. The text is read when the test ends (see
        :meth:`flush`): the client rewrites ``.message`` right after creating some errors (the
        dispatcher redacts API error messages), and what matters is what anyone can see."""
        self.exceptions += 1
        self._pending.append(
            (f"{self.current_test}: {type(exc).__name__} created at {_creator()}", exc)
        )
        if len(self._pending) > 10_000:  # a flood: do not hold on to them
            self.flush()

    def flush(self) -> None:
        for where, exc in self._pending:
            try:
                self.check(where, f"{exc}\n{exc!r}")
            except Exception as err:  # pragma: no cover - a broken __str__ is a finding too
                self.findings.append(Finding(where, f"<str()/repr() raised {type(err).__name__}>", ""))
            for name, value in list(vars(exc).items()):
                if name.startswith("__") or value is None or isinstance(value, BaseException):
                    continue  # __cause__/__context__: scanned as exceptions of their own
                try:
                    text = value if isinstance(value, str) else repr(value)
                except Exception:  # pragma: no cover - a broken repr
                    continue
                text = text[:200_000]  # .unsent can hold megabytes of queued events
                self.check(f"{where} (.{name})", text)
        self._pending.clear()

    def scan(self) -> list[Finding]:
        self.flush()
        return list(dict.fromkeys(self.findings))  # str() and repr() of one exception: one finding


def _creator() -> str:
    """file:line of the code that created the exception (outside __init__ chains)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_name in ("__init__", "init", "exception_created"):
        frame = frame.f_back
    if frame is None:  # pragma: no cover
        return "?"
    summary = traceback.extract_stack(frame, limit=1)[-1]
    return f"{summary.filename}:{summary.lineno}"
