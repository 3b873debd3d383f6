"""Frozen, JSON-ready records that flow through the pipeline.

probe -> decode -> detectors (``Event``) -> requirement verdicts (``Reason``,
``Requirement``) -> ``Report``. Every record has ``to_dict()`` giving the
shape documented in ``validator/report/report.schema.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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

    ``kind`` is one of the event kinds listed in the report schema (cut, gap,
    audio_gap, freeze, black, edit_software, ...). ``t_s`` is seconds from the
    first displayed frame; ``length_s`` is set for events with an extent.
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
