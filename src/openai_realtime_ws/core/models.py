# The one list of model names this package knows, each with where it comes from. Used by the
# CLI (`--model` check), `create()`'s warning on a name that is not a known Realtime model, and
# the emulator (which refuses unknown models the way the real API does). Pure data and two
# predicates: no I/O.
#
# Sources (checked 2026-12-06):
#   spec    the session `model` enum of /work/shared/spec/realtime-openapi-subset.json
#   py      openai-python 3.63 `RealtimeSessionCreateRequestParam.model` (types/realtime/
#           realtime_session_create_request_param.py), a Literal of the names it documents
#   guide   OpenAI's guides as quoted in issue 19 ("gpt-realtime-2 and gpt-realtime-2.1 for voice
#           agents, gpt-realtime-translate for translation")
#   node    openai-node `src/realtime/translations/ws.ts` (OpenAIRealtimeTranslationWS) with the
#           model `gpt-realtime-translate` (issue 19)
from __future__ import annotations

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_TRANSLATION_MODEL",
    "REALTIME_MODELS",
    "TRANSLATION_MODELS",
    "is_other_openai_model",
    "is_realtime_model",
    "is_translation_model",
    "unknown_model_message",
]

DEFAULT_MODEL = "gpt-realtime"
DEFAULT_TRANSLATION_MODEL = "gpt-realtime-translate"

REALTIME_MODELS: dict[str, str] = {
    "gpt-realtime": "spec, py",
    "gpt-realtime-mini": "spec, py",
    "gpt-realtime-1.5": "spec, py",
    "gpt-realtime-2": "spec, py, guide",
    "gpt-realtime-2.1": "spec, py, guide",
    "gpt-realtime-2.1-mini": "spec, py",
    "gpt-realtime-2025-08-28": "spec, py",
    "gpt-realtime-mini-2025-10-06": "spec, py",
    "gpt-realtime-mini-2025-12-15": "spec, py",
    "gpt-audio-1.5": "py",
    "gpt-audio-mini": "py",
    "gpt-audio-mini-2025-10-06": "py",
    "gpt-audio-mini-2025-12-15": "py",
    "gpt-4o-realtime-preview": "spec, py (deprecated)",
    "gpt-4o-mini-realtime-preview": "spec, py (deprecated)",
    "gpt-4o-realtime-preview-2024-10-01": "spec, py (deprecated)",
    "gpt-4o-realtime-preview-2024-12-17": "spec, py (deprecated)",
    "gpt-4o-realtime-preview-2025-06-03": "spec, py (deprecated)",
    "gpt-4o-mini-realtime-preview-2024-12-17": "spec, py (deprecated)",
}
"""Session models of `/v1/realtime` (name → where it comes from), newest families first."""

TRANSLATION_MODELS: dict[str, str] = {
    "gpt-realtime-translate": "guide, node",
}
"""Models of `/v1/realtime/translations` (name → where it comes from)."""


def is_realtime_model(name: str) -> bool:
    """A known Realtime session model, or a name shaped like one (`gpt-…realtime…`, a
    fine-tune `ft:gpt-…realtime…`, a dated snapshot of a known name) so that newer snapshots are
    not refused before this list knows them. Translation models are not session models."""
    if name in REALTIME_MODELS:
        return True
    if is_translation_model(name):
        return False
    if name.startswith(("gpt-", "ft:gpt-")) and "realtime" in name:
        return True
    return any(name.startswith(known + "-") and name[len(known) + 1:][:1].isdigit() for known in REALTIME_MODELS)


def is_translation_model(name: str) -> bool:
    """A known translation model or a dated snapshot of one (`gpt-realtime-translate-2026-…`)."""
    return name in TRANSLATION_MODELS or any(name.startswith(known + "-") for known in TRANSLATION_MODELS)


_OTHER_FAMILIES = ("gpt-", "chatgpt-", "o1", "o3", "o4", "whisper-", "tts-", "dall-e", "text-", "davinci",
                   "babbage", "omni-", "codex-", "computer-use", "sora")


def is_other_openai_model(name: str) -> bool:
    """A name of another OpenAI model family (`gpt-4o`, `o3`, `whisper-1`, `gpt-4o-transcribe`…)
    that is neither a Realtime nor a translation model: what the emulator refuses by default."""
    return name.startswith(_OTHER_FAMILIES) and not (is_realtime_model(name) or is_translation_model(name))


def unknown_model_message(model: str, *, translation: bool = False) -> str | None:
    """The warning `create()` logs for a model name that is not a known Realtime (or, with
    `translation`, translation) model, or None for a known one. Not a refusal: gateways and
    proxies use their own names."""
    if translation:
        if is_translation_model(model):
            return None
        known = ", ".join(TRANSLATION_MODELS)
        return (f"model {model!r} is not a known Realtime translation model ({known}); connecting "
                "anyway (a gateway may use its own names)")
    if is_realtime_model(model):
        return None
    known = ", ".join(list(REALTIME_MODELS)[:6])
    return (f"model {model!r} is not a known Realtime model ({known}, …); connecting anyway "
            "(a gateway may use its own names)")
