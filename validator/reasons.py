"""The reason catalogue: every stable reason code with its messages (en, zh).

The messages live in ``validator/data/reasons.json``, but for the reasons an event
kind raises, which its finder declares with the kind (``EventKind.reason``);
``docs/reasons.md`` lists every code (a test keeps the two in step).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from validator.models import Reason


@cache
def shipped() -> dict[str, dict[str, str]]:
    """The codes of ``reasons.json`` with their requirement, verdict and message templates."""
    raw = json.loads(resources.files("validator.data").joinpath("reasons.json").read_text("utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def catalogue() -> dict[str, dict[str, str]]:
    """Every reason code: ``reasons.json``'s, then those the event kinds declare.

    Not cached: a detector registered later (a test's) brings its kinds' reasons.
    """
    from validator.detectors import event_kinds  # the detectors import this module

    out = dict(shipped())
    for k in event_kinds().values():
        r = k.reason
        if r is None:
            continue
        if r.code in out:
            raise ValueError(f"reason code {r.code!r} declared twice (event kind {k.kind!r})")
        out[r.code] = {"requirement": "completeness", "verdict": r.verdict, "en": r.en, "zh": r.zh}
    return out


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return f"[missing:{key}]"  # visible in a message, never an exception in a report


def reason(code: str, at_s: tuple[float, ...] | list[float] = (), **fields: Any) -> Reason:
    """A ``Reason`` for ``code`` with its messages filled from ``fields`` (a field the
    caller did not give shows as ``[missing:name]``; tests look for it)."""
    entry = shipped().get(code) or catalogue()[code]
    return Reason(
        code=code,
        verdict=entry["verdict"],  # type: ignore[arg-type]
        message_en=entry["en"].format_map(_Fields(fields)),
        message_zh=entry["zh"].format_map(_Fields(fields)),
        at_s=tuple(at_s),
    )


@cache
def _advice() -> dict[str, Any]:
    raw = resources.files("validator.data").joinpath("advice.json").read_text("utf-8")
    return dict(json.loads(raw))


def advice(code: str, lang: str = "en") -> dict[str, Any] | None:
    """What the merchant can do about a finding of ``code`` (``validator/data/advice.json``):
    ``fixable`` ("yes": this clip can pass once ``now`` is done; "no": the recording itself
    is the problem; "review": a person looks), ``now`` (what to do, in ``lang``) and
    ``instead`` (other evidence the seed accepts, in ``lang``). None for a code without
    advice (the passes)."""
    data = _advice()
    entry = data.get(code)
    if code.startswith("_") or entry is None:
        return None
    evidence = data["_evidence"]
    return {
        "fixable": entry["fixable"],
        "now": entry[f"now_{lang}"],
        "instead": [evidence[key][lang] for key in entry["instead"]],
    }
