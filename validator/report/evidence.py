"""The evidence report's content: what a merchant attaches to an appeal, in one language.

``evidence(report, lang)`` turns one video's report (the JSON shape ``check_case``
writes into ``report.json``'s ``videos[]`` and the service stores) into plain
words: the verdict per requirement with its reasons' localised messages (never a
reason code), the key frames (each counted face, the waybill with its number, the
opening) with their times, the recording time and where it came from (or why no
time in the file was trusted), the file's name, size, duration and SHA-256, the
time of the check and the tool's version. The printable web page
(``templates/evidence.html``) and the PDF (``validator.report.pdf``) both render
this one object, so they say the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from validator.models import REQUIREMENTS
from validator.report.text import LABELS as REPORT_LABELS
from validator.timeutil import SHANGHAI, parse_time

LANGS = ("en", "zh")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Unboxing video evidence report",
        "subtitle": "The check of the video against the platform's four requirements "
        "(consistency, completeness, validity, timeliness).",
        "requirements": "Verdict per requirement",
        "frames": "Key frames",
        "no_frames": "No frames were saved for this video.",
        "recording": "Recording time",
        "recorded_at": "Recording started",
        "recorded_from": "Read from",
        "not_trusted": "No recording time in the file can be trusted.",
        "file": "The video file",
        "file_name": "File name",
        "file_size": "Size",
        "duration": "Duration",
        "resolution": "Picture",
        "sha256": "SHA-256",
        "sha256_help": "The file's fingerprint: any change to the file changes it.",
        "check": "The check",
        "checked_at": "Checked at",
        "tool": "Tool",
        "policy": "Rules",
        "face": "Face {n}",
        "waybill": "Waybill",
        "waybill_no": "Waybill {number}",
        "opening": "Opening",
        "at": "at {t}",
        "seconds": "{s} s",
        "bytes": "{mb} MB ({n} bytes)",
        "page": "Page {n} of {total}",
        "unknown": "unknown",
        "video_n": "Video {n} of {total}",
        "download_pdf": "Download the evidence report (PDF)",
        "printable": "Printable evidence report",
        "back": "Back to the report",
        "print_help": "Print this page or save it as PDF from the browser's print menu.",
        "times_sep": ", ",
    },
    "zh": {
        "title": "拆包视频检查证据报告",
        "subtitle": "按平台的四项要求（一致性、完整性、有效性、时效性）检查此视频的结果。",
        "requirements": "各项要求的结论",
        "frames": "关键画面",
        "no_frames": "此视频没有保存画面截图。",
        "recording": "录制时间",
        "recorded_at": "开始录制",
        "recorded_from": "时间来源",
        "not_trusted": "文件中没有可信的录制时间。",
        "file": "视频文件",
        "file_name": "文件名",
        "file_size": "大小",
        "duration": "时长",
        "resolution": "画面",
        "sha256": "SHA-256",
        "sha256_help": "文件的数字指纹：文件有任何改动，指纹都会改变。",
        "check": "检查信息",
        "checked_at": "检查时间",
        "tool": "检查工具",
        "policy": "规则",
        "face": "包裹第 {n} 面",
        "waybill": "面单",
        "waybill_no": "面单 {number}",
        "opening": "开箱",
        "at": "{t} 处",
        "seconds": "{s} 秒",
        "bytes": "{mb} MB（{n} 字节）",
        "page": "第 {n} 页，共 {total} 页",
        "unknown": "未知",
        "video_n": "第 {n} 个视频，共 {total} 个",
        "download_pdf": "下载证据报告（PDF）",
        "printable": "可打印的证据报告",
        "back": "返回报告",
        "print_help": "可通过浏览器的打印菜单打印本页或另存为 PDF。",
        "times_sep": "、",
    },
}

# Where a recording time was read, as a merchant reads it. The patterns follow the ranks in
# validator/media/creation_times.py (its _RANKS); the report keeps the technical source.
_SOURCES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"^format:com\.apple\.quicktime\.creationdate$"),
        "the camera app's own capture time, with its time zone",
        "拍摄应用写入的拍摄时间（含时区）",
    ),
    (
        re.compile(r"^udta:date$"),
        "the capture date an Apple export keeps",
        "苹果设备导出时保留的拍摄日期",
    ),
    (
        re.compile(r"^(format|udta):(date|©day)$"),
        "the date and time written in the file",
        "文件中写入的日期时间",
    ),
    (
        re.compile(r"^(format:creation_time|box:mvhd)$"),
        "the file's creation time, written when the file was made",
        "文件生成时写入的创建时间",
    ),
    (
        re.compile(r"^stream\d+:creation_time$"),
        "the video track's creation time",
        "视频轨道的创建时间",
    ),
    (
        re.compile(r"^xmp:"),
        "a date written by desktop software",
        "电脑软件写入的日期",
    ),
)


def source_words(source: str | None, lang: str) -> str:
    """Where a recording time came from, in plain words (never the tag's name)."""
    for pattern, en, zh in _SOURCES:
        if source and pattern.search(source):
            return zh if lang == "zh" else en
    return "文件中的时间信息" if lang == "zh" else "a time stored in the file"


@dataclass(frozen=True)
class ReasonLine:
    verdict: str
    text: str
    times: str  # "3.2 s, 8.0 s" or ""


@dataclass(frozen=True)
class RequirementLine:
    name: str  # the requirement's key (consistency, ...): for styling only
    label: str
    verdict: str
    verdict_label: str
    reasons: list[ReasonLine]


@dataclass(frozen=True)
class Frame:
    """A key frame: its picture's file name (in the case's folder), caption and time."""

    kind: str  # face, waybill, opening
    name: str
    caption: str
    t_s: float


@dataclass(frozen=True)
class Evidence:
    """One video's evidence report in one language: every string is ready to print."""

    lang: str
    words: dict[str, str]
    verdict: str
    verdict_label: str
    overall_label: str
    requirements: list[RequirementLine]
    frames: list[Frame]
    recorded_at: str | None  # local time in China, e.g. "2026-11-20 14:05:09 (UTC+8)"
    recorded_from: str | None  # plain words
    recorded_note: str | None  # why no time was trusted, or the check's word on it
    file_name: str
    file_size: str
    duration: str
    resolution: str
    sha256: str
    checked_at: str
    tool: str
    policy: str

    def strings(self) -> list[str]:
        """Every string the report prints (for a font subset)."""
        out = [*self.words.values(), self.verdict_label, self.overall_label, self.file_name]
        for r in self.requirements:
            out += [r.label, r.verdict_label, *(x.text + x.times for x in r.reasons)]
        out += [f.caption for f in self.frames]
        out += [self.recorded_at or "", self.recorded_from or "", self.recorded_note or ""]
        out += [self.file_size, self.duration, self.resolution, self.sha256, self.checked_at]
        out += [self.tool, self.policy]
        return out


def _seconds(t: float, words: dict[str, str]) -> str:
    return words["seconds"].format(s=f"{t:.1f}")


def local_time(value: str | datetime | None) -> str | None:
    """An instant as China's local time (the marketplaces' clock), with its offset."""
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else parse_time(value, field="time")
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S (UTC+8)")


def frames(report: dict[str, Any], words: dict[str, str]) -> list[Frame]:
    """The key frames that have a picture: each counted face, the waybill, the opening."""
    out: list[Frame] = []
    for f in (report.get("faces") or {}).get("shown") or []:
        if f.get("thumbnail"):
            cap = words["face"].format(n=f["face"])
            out.append(Frame("face", f["thumbnail"], cap, float(f["t_s"])))
    wb = report.get("waybill") or {}
    if wb.get("thumbnail"):
        codes = wb.get("codes") or []
        mine = [c for c in codes if wb.get("expected") and c.get("text") == wb.get("expected")]
        best = (mine or codes)[:1]
        t = best[0].get("best_t_s", best[0].get("first_t_s")) if best else None
        cap = words["waybill_no"].format(number=best[0]["text"]) if best else words["waybill"]
        if isinstance(t, int | float):
            out.append(Frame("waybill", wb["thumbnail"], cap, float(t)))
    op = report.get("opening") or {}
    t = op.get("seen_at_s", op.get("opened_at_s"))
    if op.get("thumbnail") and isinstance(t, int | float):
        out.append(Frame("opening", op["thumbnail"], words["opening"], float(t)))
    return sorted(out, key=lambda f: f.t_s)


def evidence(
    report: dict[str, Any], lang: str = "zh", *, checked_at: datetime | str | None = None
) -> Evidence:
    """One video's report as the evidence report's words in ``lang`` (``en`` or ``zh``).

    ``checked_at``: when the check ran (the service's finish time; the CLI's clock); the
    report itself does not carry it. Unknown when None.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
    w = WORDS[lang]
    lab = REPORT_LABELS[lang]
    msg = "message_zh" if lang == "zh" else "message_en"
    reqs = []
    for name in REQUIREMENTS:
        r = report["requirements"][name]
        lines = []
        for reason in r["reasons"]:
            ts = [_seconds(s, w) for s in reason.get("at_s") or [] if s is not None]
            times = w["at"].format(t=w["times_sep"].join(ts)) if ts else ""
            lines.append(ReasonLine(reason["verdict"], reason[msg], times))
        reqs.append(RequirementLine(name, lab[name], r["verdict"], lab[r["verdict"]], lines))
    media = report["media"]
    recorded = local_time(media.get("recorded_at"))
    note = None
    if recorded is None:
        # The timeliness reason says why no time was trusted (a time in the future, ...),
        # in the merchant's language (validator/requirements.py, no_creation_time).
        why = [x[msg] for x in report["requirements"]["timeliness"]["reasons"]
               if x["code"] == "no_creation_time"]  # fmt: skip
        note = why[0] if why else w["not_trusted"]
    size = int(report["file"]["size_bytes"])
    tool = report.get("tool") or {}
    policy = report.get("policy") or {}
    return Evidence(
        lang=lang,
        words=w,
        verdict=report["verdict"],
        verdict_label=lab[report["verdict"]],
        overall_label=lab["overall"],
        requirements=reqs,
        frames=frames(report, w),
        recorded_at=recorded,
        recorded_from=None
        if recorded is None
        else source_words(media.get("recorded_at_source"), lang),
        recorded_note=note,
        file_name=report["file"]["name"],
        file_size=w["bytes"].format(mb=f"{size / 1e6:.1f}", n=f"{size:,}"),
        duration=_seconds(float(media["duration_s"]), w),
        resolution=f"{media['width']}×{media['height']}",
        sha256=report["file"]["sha256"],
        checked_at=local_time(checked_at) or w["unknown"],
        tool=f"{tool.get('name', 'appeal-evidence-validator')} {tool.get('version', '')}".strip(),
        policy=f"{policy.get('name', '')} {policy.get('version', '')}".strip() or w["unknown"],
    )


def picture_path(folder: Path, name: str) -> Path | None:
    """A key frame's file in ``folder`` by its bare name, or None (absent, or not bare)."""
    bare = name.replace("\\", "/").rsplit("/", 1)[-1]
    if not bare or bare.startswith(".") or bare != name:
        return None
    path = folder / bare
    return path if path.is_file() else None
