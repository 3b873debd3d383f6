"""The report: one JSON document per checked video (its model: ``validator.report.model``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validator import __version__
from validator.models import REQUIREMENTS, Event, Requirement
from validator.report.model import SCHEMA_VERSION, report_schema, validate_report
from validator.timeutil import iso

if TYPE_CHECKING:
    from validator.detectors.base import Findings
    from validator.detectors.faces import FaceMetrics
    from validator.detectors.waybill import WaybillMetrics
    from validator.media.probe import MediaInfo
    from validator.policy import Policy
    from validator.requirements import CheckFacts


def schema() -> dict[str, Any]:
    """The JSON Schema every report validates against, generated from the report's model
    (``validator.report.model``) with the declared event kinds as the events' enum."""
    return report_schema()


@dataclass(frozen=True)
class Report:
    """A finished check. ``data`` is the JSON document; the rest is for Python callers."""

    data: dict[str, Any]
    media: MediaInfo | None = field(default=None, compare=False, repr=False)

    @property
    def verdict(self) -> str:
        return self.data["verdict"]

    def requirement(self, name: str) -> dict[str, Any]:
        return self.data["requirements"][name]

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.data["events"]

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=indent)


def _waybill(findings: dict[str, Findings], consistency: Requirement, facts: CheckFacts) -> dict:
    """``waybill.expected``, ``.codes[]`` (text, format, first_t_s, frames), ``.match``."""
    if "waybill" not in findings:
        return {"expected": facts.tracking_number, "codes": [], "match": None, "checked": False}
    m: WaybillMetrics = findings["waybill"].metrics
    codes = [
        {k: c.get(k) for k in ("text", "format", "first_t_s", "frames", "best_t_s", "carriers")}
        for c in m.codes
    ]
    match = None if consistency.verdict == "review" else consistency.verdict == "pass"
    return {
        "expected": facts.tracking_number,
        "codes": codes,
        "match": match,
        "checked": True,
        "sampled_frames": m.sampled_frames,
        # Not the reader's own time (``read_ms_total``, measured inside the detector):
        # the report's durations come from the check's clock (``analysis.detector_s``).
    }


def _face_metrics(findings: dict[str, Findings]) -> FaceMetrics:
    """The faces detector's metrics; when it did not run, no face and no opening."""
    from validator.detectors.faces import FaceMetrics

    return findings["faces"].metrics if "faces" in findings else FaceMetrics()


def _faces(findings: dict[str, Findings]) -> dict:
    """``faces`` {count, shown[]}, and the opening, from the faces detector's metrics."""
    m = _face_metrics(findings)
    shown = [
        {"face": f["face"], "t_s": f["t_s"], "held_s": f.get("held_s"), "thumbnail": None}
        for f in m.shown
    ]
    return {"count": int(m.count or 0), "shown": shown, "checked": "faces" in findings}


def _opening(findings: dict[str, Findings]) -> dict:
    m = _face_metrics(findings)
    return {
        "opened_at_s": m.opened_at_s,
        "seen_at_s": m.opening_t_s,
        "starts_open": bool(m.starts_open),
        "thumbnail": None,
    }


def build_report(
    *,
    path: Path,
    sha256: str,
    media: MediaInfo,
    verdict: str,
    requirements: dict[str, Requirement],
    events: list[Event],
    findings: dict[str, Findings],
    facts: CheckFacts,
    policy: Policy,
    analysis: dict[str, Any],
    witness: Mapping[str, Any] | None = None,
) -> Report:
    md = media.to_dict()
    opening = _opening(findings)
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "appeal-evidence-validator", "version": __version__},
        "verdict": verdict,
        "requirements": {name: requirements[name].to_dict() for name in REQUIREMENTS},
        "media": {
            "duration_s": round(media.duration_s, 3),
            "width": media.width,
            "height": media.height,
            "fps": round(media.fps_measured or media.fps_nominal or 0.0, 3),
            "fps_nominal": media.fps_nominal,
            "vfr": media.vfr,
            "rotation": media.rotation,
            "codec": media.codec,
            "pix_fmt": media.pix_fmt,
            "has_audio": media.has_audio,
            "recorded_at": iso(media.recorded_at),
            "recorded_at_source": media.recorded_at_source,
            "recorded_at_why": media.recorded_at_why,
            "creation_times": md.get("creation_times", []),
        },
        "events": [e.to_dict() for e in events],
        "file": {"name": path.name, "size_bytes": media.size_bytes, "sha256": sha256},
        "provenance": md.get("provenance", []),
        "quality": findings["quality"].metrics.to_dict() if "quality" in findings else None,
        "motion": findings["cuts"].metrics.to_dict() if "cuts" in findings else None,
        "waybill": _waybill(findings, requirements["consistency"], facts),
        "faces": _faces(findings),
        "opened_at_s": opening["opened_at_s"],
        "starts_open": opening["starts_open"],
        "opening": opening,
        "facts": facts.to_dict(),
        "policy": policy.to_dict(),
        "analysis": analysis,
    }
    if witness is not None:  # only a recording made through the service has one
        data["witness"] = dict(witness)
    return Report(validate_report(data), media)
