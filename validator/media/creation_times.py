"""Which creation time of a file the verdict trusts: every source, parsed and ranked.

``ranked_creation_times(tags, boxes, video_index)`` parses every creation-time tag (and the
raw ``mvhd`` time the box walker read) into accepted and rejected ``CreationTime``
entries; ``choose_recorded`` picks ``recorded_at`` and says why. Best first:

1. ``format:com.apple.quicktime.creationdate`` -- the camera app's own local
   capture time with its UTC offset; exports and remuxes copy it unchanged.
2. ``udta:date`` -- the capture date (with offset) an Apple AVFoundation export
   writes in its ``date`` atom.
3. a full date-time in ``format:date`` (``©day``) or another date tag.
4. ``format:creation_time`` -- the ``mvhd`` creation time (UTC). Phones write
   it when they finish the file; any remux or export rewrites it.
5. ``stream<N>:creation_time`` of the primary video stream, then of the others.
6. ``xmp:DateTimeOriginal`` / ``xmp:CreateDate`` -- written by desktop software.

Values before 1990 (a zeroed ``mvhd``: 1904-01-01 or 1970-01-01) or more than a
day in the future are not trusted; they are kept in ``rejected_times`` with why.
Times without an offset: container times (``creation_time``, ``mvhd``) are UTC
by the QuickTime/ISO specification; other naive tags are read as China Standard
Time, ``validator.timeutil``'s default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from validator.errors import UsageError
from validator.media.boxes import BoxInfo, qt_time
from validator.timeutil import iso, parse_time

EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

_TIME_KEY = re.compile(
    r"(?i)^(creation_time|com\.apple\.quicktime\.creationdate|date|©day|date_recorded|"
    r"datetimeoriginal|createdate|creation_date)$"
)
# (key regex, rank, why) -- the order documented in the module docstring.
_RANKS: tuple[tuple[re.Pattern[str], int, str], ...] = (
    (
        re.compile(r"^format:com\.apple\.quicktime\.creationdate$"),
        0,
        "the camera app's own local capture time with its UTC offset, which exports "
        "and remuxes copy unchanged",
    ),
    (
        re.compile(r"^udta:date$"),
        1,
        "the capture date with UTC offset that an Apple export keeps in its 'date' atom",
    ),
    (re.compile(r"^(format|udta):(date|©day)$"), 2, "a full date-time in the file's date tag"),
    (
        re.compile(r"^format:creation_time$"),
        4,
        "the container (mvhd) creation time in UTC, written when the file was made; "
        "a remux or export rewrites it",
    ),
    (
        re.compile(r"^box:mvhd$"),
        4,
        "the container (mvhd) creation time in UTC, written when the file was made",
    ),
    (
        re.compile(r"^stream\d+:creation_time$"),
        5,
        "a track creation time in UTC, written with the container's",
    ),
    (
        re.compile(r"^xmp:(DateTimeOriginal|CreateDate)$"),
        6,
        "a creation date written by desktop software in XMP",
    ),
)
_NAIVE_UTC = re.compile(r"^(format:creation_time|stream\d+:creation_time|box:mvhd)$")


# Why a creation time was not trusted, as a merchant reads it (the report's ``why`` says
# it for a reviewer, in English).
REJECTED: dict[str, tuple[str, str]] = {
    "future": ("is in the future: the device's clock was wrong", "晚于当前时间：设备时钟有误"),
    "before_1990": (
        "is before 1990: an unset or zeroed clock",
        "早于 1990 年：设备时钟未设置或被清零",
    ),
    "year_only": ("is a year only, not a date and time", "只有年份，没有日期和时间"),
    "unparsable": ("is not a date and time", "不是可识别的日期时间"),
}


# Where a creation time was read, as a merchant reads it (en, zh): the report keeps the
# technical source (``format:creation_time``) for reviewers; the messages say this.
_SOURCE_LABELS: tuple[tuple[re.Pattern[str], tuple[str, str]], ...] = (
    (
        re.compile(r"^format:com\.apple\.quicktime\.creationdate$"),
        ("the camera app's capture time", "相机应用记录的拍摄时间"),
    ),
    (re.compile(r"^udta:date$"), ("the capture date the export kept", "导出文件保留的拍摄日期")),
    (re.compile(r"^(format|udta):(date|©day)$"), ("the file's date tag", "文件的日期标签")),
    (
        re.compile(r"^(format:creation_time|box:mvhd)$"),
        ("the file's creation time", "文件的创建时间"),
    ),
    (
        re.compile(r"^stream\d+:creation_time$"),
        ("the video track's creation time", "视频轨道的创建时间"),
    ),
    (
        re.compile(r"^xmp:"),
        ("a date written by desktop software", "电脑软件写入的日期"),
    ),
)


def source_label(source: str | None) -> tuple[str, str]:
    """Where a creation time came from, in plain English and Chinese (for the merchant)."""
    for pattern, label in _SOURCE_LABELS:
        if source and pattern.match(source):
            return label
    return ("a date in the file's metadata", "文件元数据中的日期")


@dataclass(frozen=True, slots=True)
class CreationTime:
    """One creation-time source: where it is, what it says, and its parsed value.

    ``value`` is aware and keeps the source's own UTC offset (``+03:00`` for an
    iPhone in Israel); it is None for rejected entries, which say ``why``.
    """

    source: str
    raw: str
    value: datetime | None
    why: str = ""
    cause: str | None = None  # a rejected entry's reason, a key of ``REJECTED`` (zh, en)

    def rejected_because(self) -> tuple[str, str]:
        """Why this time was not trusted, in English and Chinese (for the merchant)."""
        en, zh = REJECTED.get(self.cause or "", (self.why, self.why))
        label_en, label_zh = source_label(self.source)
        return f"{label_en} {self.raw!r} {en}", f"{label_zh}「{self.raw}」{zh}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "source": self.source,
            "raw": self.raw,
            "value": None if self.value is None else self.value.isoformat(),
            "utc": iso(self.value),
        }
        if self.why:
            d["why"] = self.why
        return d


def ranked_creation_times(
    tags: dict[str, str], boxes: BoxInfo | None, video_index: int
) -> tuple[list[CreationTime], list[CreationTime]]:
    """Every creation-time source, parsed; (accepted, rejected), each best first."""
    candidates: list[tuple[str, str]] = []
    for key, raw in tags.items():
        suffix = key.split(":", 1)[-1]
        if _TIME_KEY.match(suffix):
            candidates.append((key, raw))
    # PyAV hides a zero mvhd time; read it from the box so it shows up as rejected.
    mvhd: datetime | None = None
    if (
        boxes is not None
        and boxes.mvhd_created_raw is not None
        and ("format:creation_time" not in tags)
    ):
        secs = boxes.mvhd_created_raw
        mvhd = _UNIX_EPOCH + timedelta(seconds=qt_time(secs))
        candidates.append(("box:mvhd", f"{secs} s since 1904-01-01 ({mvhd.isoformat()})"))

    accepted: list[CreationTime] = []
    rejected: list[CreationTime] = []
    now = datetime.now(UTC)
    for key, raw in candidates:
        if key == "box:mvhd":
            value, why = mvhd, ""
        else:
            value, why = parse_time_tag(raw, naive_utc=bool(_NAIVE_UTC.match(key)))
        if value is None:
            cause = "year_only" if "year only" in why else "unparsable"
            rejected.append(CreationTime(key, raw, None, why, cause))
        elif value < EARLIEST_PLAUSIBLE:
            rejected.append(
                CreationTime(
                    key,
                    raw,
                    None,
                    f"{value.date().isoformat()} is before 1990: a zeroed or unset clock "
                    "(QuickTime 1904 / Unix 1970 epoch), not a recording time",
                    "before_1990",
                )
            )
        elif value > now + FUTURE_SLACK:
            rejected.append(
                CreationTime(key, raw, None, "in the future: the device clock was wrong", "future")
            )
        else:
            accepted.append(CreationTime(key, raw, value, why))
    accepted.sort(key=lambda c: (_rank(c.source, video_index), c.source))
    rejected.sort(key=lambda c: (_rank(c.source, video_index), c.source))
    return accepted, rejected


def _rank(source: str, video_index: int) -> float:
    for pattern, rank, _why in _RANKS:
        if pattern.match(source):
            if source == f"stream{video_index}:creation_time":
                return rank - 0.5  # the primary video track before the others
            return rank
    return 3  # any other full date tag: after the camera's own, before mvhd


def _rank_why(source: str) -> str:
    for pattern, _, why in _RANKS:
        if pattern.match(source):
            return why
    return "a date tag of the file"


def parse_time_tag(raw: str, *, naive_utc: bool) -> tuple[datetime | None, str]:
    """Parse a tag's time; (value, note) or (None, why not)."""
    s = raw.strip()
    if re.fullmatch(r"\d{4}", s):
        return None, "a year only, not a date-time"
    # EXIF style "2019:07:24 11:25:40" -> ISO
    s = re.sub(r"^(\d{4}):(\d{2}):(\d{2})[ T]", r"\1-\2-\3T", s)
    # "+0300" -> "+03:00" (QuickTime creationdate, Apple date atom)
    s = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", s) if re.search(r"T.*[+-]\d{4}$", s) else s
    s = s.replace(" UTC", "+00:00")
    has_offset = bool(re.search(r"(Z|[+-]\d{2}:?\d{2})$", s, re.IGNORECASE))
    note = ""
    if not has_offset:
        if naive_utc:
            s += "+00:00"
            note = "no offset: a container time, UTC by the QuickTime/ISO specification"
        else:
            note = "no offset: read as China Standard Time (UTC+8)"
    try:
        return parse_time(s, field="creation time"), note
    except UsageError:
        return None, "not an ISO 8601 date-time"


def choose_recorded(
    accepted: list[CreationTime], rejected: list[CreationTime]
) -> tuple[CreationTime | None, str]:
    """The best-ranked accepted time (or None) and a sentence that says why."""
    if not accepted:
        if rejected:
            gone = "; ".join(f"{c.source}: {c.why}" for c in rejected[:3])
            return None, f"No creation time can be trusted ({gone})."
        return None, "The file carries no creation time."
    best = accepted[0]
    why = f"{best.source} is {_rank_why(best.source)}"
    better_rejected = [c for c in rejected if _rank(c.source, -1) < _rank(best.source, -1)]
    if better_rejected:
        why += f"; {better_rejected[0].source} was not usable ({better_rejected[0].why})"
    base = best.value
    spreads = [
        abs((c.value - base).total_seconds())
        for c in accepted[1:]
        if c.value is not None and base is not None
    ]
    if spreads and max(spreads) >= 1:
        why += f"; the other sources differ from it by up to {max(spreads):.0f} s"
    return best, why + "."
