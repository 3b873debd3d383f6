"""Frozen, JSON-ready records that flow through the pipeline.

probe -> decode -> detectors (``Event``) -> requirement verdicts (``Reason``,
``Requirement``) -> ``Report``. Every record has ``to_dict()`` giving the
shape of the report's model (``validator/report/model.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from validator.policy import Policy

Verdict = Literal["pass", "fail", "review"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "review")
REQUIREMENTS: tuple[str, ...] = ("consistency", "completeness", "validity", "timeliness")
# The exit code of a verdict: ``check``, ``batch`` (and the README's table).
VERDICT_EXIT: dict[str, int] = {"pass": 0, "fail": 1, "review": 3}


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


@dataclass(frozen=True, slots=True)
class Event:
    """Something a detector found at a time in the video.

    ``kind`` is one of the declared ``EventKind``s (cut, gap, audio_gap, freeze,
    black, edit_software, ...). ``t_s`` is seconds from the first displayed
    frame; ``length_s`` is set for events with an extent.
    """

    kind: str
    t_s: float
    length_s: float | None = None
    score: float | None = None
    detector: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "t_s": _r(self.t_s)}
        if self.length_s is not None:
            d["length_s"] = _r(self.length_s)
        if self.score is not None:
            d["score"] = _r(self.score, 4)
        if self.detector:
            d["detector"] = self.detector
        if self.details:
            d["details"] = self.details
        return d


def _times_and_lengths(events: Sequence[Event]) -> dict[str, str]:
    return {
        "times": ", ".join(f"{e.t_s:.1f} s" for e in events),
        "lengths": ", ".join(f"{(e.length_s or 0):.1f}" for e in events),
    }


@dataclass(frozen=True, slots=True)
class KindReason:
    """The completeness reason an event kind raises when events of it are found: its
    message templates (en, zh) are filled by ``fields``, its ``at_s`` are the events'
    times when ``timed``. Only events longer than the threshold ``over`` picks from the
    policy count (``lambda p: p.completeness.max_gap_s``: a typed read, not a key)."""

    code: str
    verdict: Verdict
    en: str
    zh: str
    over: Callable[[Policy], float] | None = None
    timed: bool = True
    fields: Callable[[Sequence[Event]], dict[str, Any]] = _times_and_lengths


@dataclass(frozen=True, slots=True)
class EventKind:
    """An event kind as the module that finds it declares it; the report schema's enum,
    the form's labels, the thumbnails, docs/reasons.md and the requirement verdicts
    read it from there (``validator.detectors.event_kinds()`` gathers them).

    ``caption`` names its thumbnail (``None``: no picture of it); ``rank`` orders
    the kinds (schema, docs) and the reasons they raise among a requirement's;
    ``abrupt`` marks an abrupt change of picture, which a long black run's edges
    absorb (``analyze.absorb_black_edges``). ``found_by`` is filled in when the
    kinds are gathered.
    """

    kind: str
    label_en: str
    label_zh: str
    meaning: str
    reason: KindReason | None = None
    caption: str | None = None
    rank: int = 100
    abrupt: bool = False
    found_by: str = ""


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a requirement got its verdict: a stable code, two languages, and times."""

    code: str
    verdict: Verdict
    message_en: str
    message_zh: str
    at_s: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "verdict": self.verdict,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
            "at_s": [_r(t) for t in self.at_s],
        }


@dataclass(frozen=True, slots=True)
class Requirement:
    """The verdict on one of the four requirements."""

    name: str
    verdict: Verdict
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": [r.to_dict() for r in self.reasons]}


def combine(verdicts: list[str] | tuple[str, ...]) -> Verdict:
    """fail if any fails, else review if any is review, else pass."""
    if "fail" in verdicts:
        return "fail"
    if "review" in verdicts:
        return "review"
    return "pass"
