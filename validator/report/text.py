"""The text report: verdicts, reasons and times, for people at a terminal."""

from __future__ import annotations

from typing import Any

from validator.models import REQUIREMENTS

LABELS = {
    "en": {
        "consistency": "Consistency",
        "completeness": "Completeness",
        "validity": "Validity",
        "timeliness": "Timeliness",
        "pass": "PASS",
        "fail": "FAIL",
        "review": "REVIEW",
        "overall": "Overall",
        "events": "Events",
        "none": "none",
        "at": "at",
    },
    "zh": {
        "consistency": "一致性",
        "completeness": "完整性",
        "validity": "有效性",
        "timeliness": "时效性",
        "pass": "通过",
        "fail": "不通过",
        "review": "需人工复核",
        "overall": "总体结论",
        "events": "事件",
        "none": "无",
        "at": "时间点",
    },
}


def render_text(report: dict[str, Any], lang: str = "en") -> str:
    """A readable summary of a report dict (the JSON shape)."""
    lab = LABELS[lang]
    m = report["media"]
    lines = [
        f"{report['file']['name']}  {m['width']}x{m['height']}  {m['duration_s']:.1f} s  "
        f"{m['fps']:.2f} fps  {m['codec']}",
        f"{lab['overall']}: {lab[report['verdict']]}",
        "",
    ]
    for name in REQUIREMENTS:
        r = report["requirements"][name]
        lines.append(f"{lab[name]:<14} {lab[r['verdict']]}")
        for reason in r["reasons"]:
            msg = reason["message_zh"] if lang == "zh" else reason["message_en"]
            mark = {"pass": "+", "fail": "x", "review": "?"}[reason["verdict"]]
            lines.append(f"  {mark} [{reason['code']}] {msg}")
    lines.append("")
    events = report.get("events", [])
    lines.append(f"{lab['events']}: {lab['none'] if not events else ''}".rstrip())
    for e in events:
        extent = f" ({e['length_s']:.2f} s)" if e.get("length_s") is not None else ""
        lines.append(f"  {e['t_s']:8.2f} s  {e['kind']}{extent}")
    pred = report.get("prediction")
    if pred:
        from validator.predict.render import outcome_line  # the predictor is optional

        lines += ["", outcome_line(pred, lang)]
    return "\n".join(lines) + "\n"
