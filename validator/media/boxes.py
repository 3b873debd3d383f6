"""The ISO-BMFF / QuickTime box walker: what PyAV does not expose of an MP4/MOV/3GP file.

``scan_boxes(path)`` walks the top-level boxes with bounded reads: it reads box
headers everywhere and the payload only of the few small boxes it needs (``mvhd``,
``tkhd``, ``mdhd``, ``hdlr``, ``elst``, ``moov/udta`` leaves, XMP packets in ``XMP_``
and the XMP ``uuid``), each up to a size cap. It gives XMP (``CreatorTool``,
``softwareAgent``), Samsung ``SDLN``/``smrd``/``smta``, Apple's ``date`` atom, edit
lists, raw ``mvhd`` times (PyAV hides a zero creation time) and the track matrix.
``probe`` reads rotation and creation times from it; ``provenance`` matches editing
software signatures against it.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

# Bounds of the walker: a hostile file cannot make us read or loop much.
MAX_BOXES = 20_000
MAX_DEPTH = 8
LEAF_CAP = 64 * 1024  # udta text items, hdlr, elst ...
XMP_CAP = 2 * 1024 * 1024  # an XMP packet with a long edit history
MAX_ELST_ENTRIES = 4096

XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
# Box types that may open an ISO-BMFF / QuickTime file.
TOP_LEVEL_TYPES = frozenset(
    {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"PICT", b"junk"}
)
# 3GPP asset boxes (TS 26.244): full box, 2-byte language, then the text.
_3GPP_TEXT = frozenset({b"titl", b"auth", b"dscp", b"perf", b"gnre", b"cprt", b"albm", b"yrrc"})
# udta leaves that hold pictures or bulk data, never a tag worth matching.
_BULK = frozenset({b"thmb", b"covr", b"PICT", b"tnam", b"free", b"skip", b"wide"})

_QT_EPOCH_OFFSET = 2_082_844_800  # seconds from 1904-01-01 to 1970-01-01


@dataclass(frozen=True, slots=True)
class EditListEntry:
    """One ``elst`` entry: times in seconds; ``media_time_s`` None is an empty edit."""

    segment_duration_s: float
    media_time_s: float | None
    rate: float


@dataclass(slots=True)
class TrackBoxes:
    """What the walker read from one ``trak``."""

    track_id: int | None = None
    handler_type: str = ""
    handler_name: str = ""
    created_raw: int | None = None
    matrix: tuple[float, float, float, float] | None = None  # a, b, c, d of the tkhd matrix
    media_timescale: int | None = None
    media_duration: int | None = None
    edits: list[EditListEntry] = field(default_factory=list)

    @property
    def rotation_cw(self) -> int | None:
        """Degrees clockwise to display (0/90/180/270) from the tkhd matrix, or None."""
        if self.matrix is None:
            return None
        a, b, _c, _d = self.matrix
        if a == 0 and b == 0:
            return None
        # ffmpeg's av_display_rotation_get() is -atan2(b, a) (counter-clockwise);
        # clockwise-to-display is its negation.
        deg = math.degrees(math.atan2(b, a))
        return round(deg / 90.0) % 4 * 90

    @property
    def mirrored(self) -> bool:
        if self.matrix is None:
            return False
        a, b, c, d = self.matrix
        return a * d - b * c < 0

    @property
    def media_duration_s(self) -> float | None:
        if not self.media_timescale or self.media_duration is None:
            return None
        return self.media_duration / self.media_timescale


@dataclass(slots=True)
class BoxInfo:
    """The findings of ``scan_boxes``; empty (``is_isobmff`` False) for other formats."""

    is_isobmff: bool = False
    major_brand: str | None = None
    compatible_brands: list[str] = field(default_factory=list)
    top_level: list[tuple[str, int, int]] = field(default_factory=list)  # type, offset, size
    truncated: list[str] = field(default_factory=list)  # top-level boxes that run past EOF
    mdat_bytes: int = 0
    movie_timescale: int | None = None
    mvhd_created_raw: int | None = None  # seconds since 1904-01-01 UTC
    tracks: list[TrackBoxes] = field(default_factory=list)
    items: dict[str, str] = field(default_factory=dict)  # "udta:SDLN" -> "SEQ_PLAY"
    xmp: dict[str, str] = field(default_factory=dict)  # "xmp:CreatorTool" -> value
    warnings: list[str] = field(default_factory=list)

    def evidence(self) -> dict[str, str]:
        """udta items and XMP properties as flat ``key -> value`` strings."""
        return {**self.items, **self.xmp}

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_isobmff": self.is_isobmff,
            "major_brand": self.major_brand,
            "compatible_brands": self.compatible_brands,
            "top_level": [{"type": t, "offset": o, "size": s} for t, o, s in self.top_level[:64]],
            "truncated": self.truncated,
            "mdat_bytes": self.mdat_bytes,
            "tracks": [
                {
                    "track_id": t.track_id,
                    "handler_type": t.handler_type,
                    "handler_name": t.handler_name,
                    "rotation_cw": t.rotation_cw,
                    "mirrored": t.mirrored,
                    "edits": [
                        {
                            "segment_duration_s": round(e.segment_duration_s, 6),
                            "media_time_s": None
                            if e.media_time_s is None
                            else round(e.media_time_s, 6),
                            "rate": e.rate,
                        }
                        for e in t.edits[:32]
                    ],
                }
                for t in self.tracks
            ],
            "warnings": self.warnings,
        }


def qt_time(raw: int) -> float:
    """A QuickTime/ISO time (seconds since 1904-01-01 UTC) as a Unix timestamp."""
    return float(raw - _QT_EPOCH_OFFSET)


# --------------------------------------------------------------------------- walker


class _Walk:
    def __init__(self, f: BinaryIO, file_size: int, info: BoxInfo) -> None:
        self.f = f
        self.size = file_size
        self.info = info
        self.count = 0

    def header(self, pos: int, end: int) -> tuple[bytes, int, int] | None:
        """(type, size, header length) of the box at ``pos``, or None at the end."""
        if pos + 8 > end:
            return None
        self.f.seek(pos)
        head = self.f.read(8)
        if len(head) < 8:
            return None
        size, typ = struct.unpack(">I4s", head)
        hlen = 8
        if size == 1:
            big = self.f.read(8)
            if len(big) < 8:
                return None
            size = struct.unpack(">Q", big)[0]
            hlen = 16
        elif size == 0:
            size = end - pos  # "extends to the end of the file"
        if size < hlen:
            self.info.warnings.append(f"box {_fourcc(typ)} at {pos} has impossible size {size}")
            return None
        return typ, size, hlen

    def read(self, pos: int, n: int) -> bytes:
        self.f.seek(pos)
        return self.f.read(max(0, n))

    def children(self, start: int, end: int, depth: int):
        """Yield (type, payload offset, payload size) of the boxes in [start, end)."""
        pos = start
        while pos < end:
            self.count += 1
            if self.count > MAX_BOXES or depth > MAX_DEPTH:
                self.info.warnings.append("too many or too deeply nested boxes; stopped")
                return
            h = self.header(pos, end)
            if h is None:
                return
            typ, size, hlen = h
            if pos + size > end:
                if depth == 0:
                    self.info.truncated.append(_fourcc(typ))
                else:
                    self.info.warnings.append(f"box {_fourcc(typ)} at {pos} overruns its parent")
                yield typ, pos + hlen, end - pos - hlen, pos, size
                return
            yield typ, pos + hlen, size - hlen, pos, size
            pos += size


def scan_boxes(path: str | Path) -> BoxInfo:
    """Walk the boxes of an MP4/MOV/3GP file with bounded reads (see module docstring).

    Never raises for a malformed file: problems land in ``warnings`` and
    ``truncated``. Returns an empty ``BoxInfo`` for files that are not ISO-BMFF.
    """
    info = BoxInfo()
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(12)
            if len(head) < 8 or head[4:8] not in TOP_LEVEL_TYPES:
                return info
            info.is_isobmff = True
            w = _Walk(f, size, info)
            for typ, off, n, pos, bsize in w.children(0, size, 0):
                info.top_level.append((_fourcc(typ), pos, bsize))
                if typ == b"ftyp" and n >= 8:
                    data = w.read(off, min(n, 256))
                    info.major_brand = data[:4].decode("latin-1")
                    info.compatible_brands = [
                        data[i : i + 4].decode("latin-1") for i in range(8, len(data) - 3, 4)
                    ]
                elif typ == b"mdat":
                    info.mdat_bytes += n
                elif typ == b"moov":
                    _moov(w, off, n)
                elif typ == b"uuid":
                    _uuid(w, off, n, "uuid")
                elif typ == b"XMP_":
                    _xmp(w, off, n, "XMP_")
            _finish_edits(info)
    except OSError as e:
        info.warnings.append(f"cannot read boxes: {e.strerror or e}")
    return info


def _moov(w: _Walk, off: int, n: int) -> None:
    for typ, coff, cn, _pos, _size in w.children(off, off + n, 1):
        if typ == b"mvhd":
            _mvhd(w, w.read(coff, min(cn, 128)))
        elif typ == b"trak":
            track = TrackBoxes()
            w.info.tracks.append(track)
            _trak(w, coff, cn, track)
        elif typ == b"udta":
            _udta(w, coff, cn)
        elif typ == b"uuid":
            _uuid(w, coff, cn, "moov/uuid")


def _mvhd(w: _Walk, d: bytes) -> None:
    try:
        if d[0] == 1:
            created, _mod, timescale = struct.unpack(">QQI", d[4:24])
        else:
            created, _mod, timescale = struct.unpack(">III", d[4:16])
    except (struct.error, IndexError):
        w.info.warnings.append("mvhd too short")
        return
    w.info.mvhd_created_raw = created
    w.info.movie_timescale = timescale or None


def _trak(w: _Walk, off: int, n: int, track: TrackBoxes) -> None:
    for typ, coff, cn, _pos, _size in w.children(off, off + n, 2):
        if typ == b"tkhd":
            _tkhd(w, w.read(coff, min(cn, 128)), track)
        elif typ == b"edts":
            for t2, o2, n2, _p, _s in w.children(coff, coff + cn, 3):
                if t2 == b"elst":
                    _elst(w, w.read(o2, min(n2, LEAF_CAP)), track)
        elif typ == b"mdia":
            for t2, o2, n2, _p, _s in w.children(coff, coff + cn, 3):
                if t2 == b"mdhd":
                    _mdhd(w, w.read(o2, min(n2, 64)), track)
                elif t2 == b"hdlr":
                    _hdlr(w.read(o2, min(n2, 1024)), track)
        elif typ == b"uuid":
            _uuid(w, coff, cn, "trak/uuid")
        elif typ == b"udta":
            for t2, o2, n2, _p, _s in w.children(coff, coff + cn, 3):
                if t2 == b"XMP_":
                    _xmp(w, o2, n2, "trak/udta/XMP_")


def _tkhd(w: _Walk, d: bytes, track: TrackBoxes) -> None:
    try:
        if d[0] == 1:
            created, _mod, track_id = struct.unpack(">QQI", d[4:24])
            mpos = 52
        else:
            created, _mod, track_id = struct.unpack(">III", d[4:16])
            mpos = 40
        a, b, _u, c, dd = struct.unpack(">iiiii", d[mpos : mpos + 20])
    except (struct.error, IndexError):
        w.info.warnings.append("tkhd too short")
        return
    track.created_raw = created
    track.track_id = track_id
    track.matrix = (a / 65536.0, b / 65536.0, c / 65536.0, dd / 65536.0)


def _mdhd(w: _Walk, d: bytes, track: TrackBoxes) -> None:
    try:
        if d[0] == 1:
            _c, _m, timescale, duration = struct.unpack(">QQIQ", d[4:32])
        else:
            _c, _m, timescale, duration = struct.unpack(">IIII", d[4:20])
    except (struct.error, IndexError):
        w.info.warnings.append("mdhd too short")
        return
    track.media_timescale = timescale or None
    track.media_duration = duration


def _hdlr(d: bytes, track: TrackBoxes) -> None:
    if len(d) < 24:
        return
    track.handler_type = d[8:12].decode("latin-1")
    rest = d[24:]
    # QuickTime writes a Pascal string, ISO a NUL-terminated UTF-8 string.
    if rest and rest[0] == len(rest) - 1 and rest[0] > 0:
        name = rest[1:]
    else:
        name = rest.split(b"\x00", 1)[0]
    track.handler_name = name.decode("utf-8", "replace").strip()


def _elst(w: _Walk, d: bytes, track: TrackBoxes) -> None:
    if len(d) < 8:
        return
    version = d[0]
    (count,) = struct.unpack(">I", d[4:8])
    fmt, esize = (">QqhH", 20) if version == 1 else (">IihH", 12)
    movie_ts = w.info.movie_timescale or 0
    for i in range(min(count, MAX_ELST_ENTRIES)):
        chunk = d[8 + i * esize : 8 + (i + 1) * esize]
        if len(chunk) < esize:
            w.info.warnings.append("elst shorter than its entry count")
            break
        seg, media_time, rate_int, rate_frac = struct.unpack(fmt, chunk)
        track.edits.append(
            EditListEntry(
                segment_duration_s=seg / movie_ts if movie_ts else float("nan"),
                # media_time is in the media timescale (mdhd), which follows edts;
                # keep raw ticks here and convert once mdhd is known (_finish_edits).
                media_time_s=None if media_time == -1 else float(media_time),
                rate=rate_int + rate_frac / 65536.0,
            )
        )


def _finish_edits(info: BoxInfo) -> None:
    """Convert elst media times from ticks to seconds once mdhd is read."""
    for t in info.tracks:
        if not t.edits:
            continue
        ts = t.media_timescale
        t.edits = [
            EditListEntry(
                e.segment_duration_s,
                None if e.media_time_s is None else (e.media_time_s / ts if ts else float("nan")),
                e.rate,
            )
            for e in t.edits
        ]


def _udta(w: _Walk, off: int, n: int) -> None:
    for typ, coff, cn, _pos, _size in w.children(off, off + n, 2):
        if typ == b"XMP_":
            _xmp(w, coff, cn, "udta/XMP_")
        elif typ == b"uuid":
            _uuid(w, coff, cn, "udta/uuid")
        elif typ == b"meta" or typ in _BULK or cn > LEAF_CAP:
            # iTunes-style meta/ilst is exposed by PyAV already; pictures are skipped.
            continue
        else:
            text = _udta_text(typ, w.read(coff, cn))
            if text:
                w.info.items[f"udta:{_fourcc(typ)}"] = text


def _udta_text(typ: bytes, d: bytes) -> str:
    """Best-effort text of a udta leaf (QuickTime, 3GPP, raw text or printable runs)."""
    if not d:
        return ""
    if typ[:1] == b"\xa9" and len(d) >= 4:
        (length,) = struct.unpack(">H", d[:2])
        if 0 < length <= len(d) - 4:
            return _clean(d[4 : 4 + length])
    if typ in _3GPP_TEXT and len(d) > 6:
        body = d[6:]
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return _clean(body.decode("utf-16", "replace").encode())
        return _clean(body)
    stripped = d.strip(b"\x00")
    if stripped and all(32 <= ch < 127 or ch in (9, 10, 13) for ch in stripped):
        return _clean(stripped)
    # Binary payload: keep its printable runs (e.g. Adobe's Cr8r names the app).
    runs = re.findall(rb"[\x20-\x7e]{4,}", d)
    return " ".join(r.decode("ascii") for r in runs)[:512]


def _clean(b: bytes) -> str:
    return b.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()[:4096]


def _uuid(w: _Walk, off: int, n: int, where: str) -> None:
    if n >= 16 and w.read(off, 16) == XMP_UUID:
        _xmp(w, off + 16, n - 16, where)


# XMP is parsed with regular expressions, not an XML parser: the packet is
# untrusted input (entity expansion) and often not well-formed XML anyway.
_XMP_PROPS = ("CreatorTool", "softwareAgent", "CreateDate", "DateTimeOriginal", "ModifyDate")
_XMP_NAMES = "|".join(_XMP_PROPS)
_XMP_ATTR = re.compile(rf"""\b(?:xmp|stEvt|exif|photoshop):({_XMP_NAMES})\s*=\s*["']([^"']*)["']""")
_XMP_ELEM = re.compile(rf"<(?:xmp|stEvt|exif|photoshop):({_XMP_NAMES})>\s*([^<]*?)\s*</")


def _xmp(w: _Walk, off: int, n: int, where: str) -> None:
    if n > XMP_CAP:
        w.info.warnings.append(f"XMP packet in {where} larger than {XMP_CAP} bytes; read the head")
    text = w.read(off, min(n, XMP_CAP)).decode("utf-8", "replace")
    parse_xmp(text, w.info.xmp)


def parse_xmp(text: str, into: dict[str, str] | None = None) -> dict[str, str]:
    """Pull the provenance-relevant properties out of an XMP packet.

    Keys are ``xmp:CreatorTool``, ``xmp:CreateDate`` ...; repeated properties
    (the ``softwareAgent`` of each history event) get ``[1]``, ``[2]`` ...
    """
    out = {} if into is None else into
    found = [(m.start(), m.group(1), m.group(2)) for m in _XMP_ATTR.finditer(text)]
    found += [(m.start(), m.group(1), m.group(2)) for m in _XMP_ELEM.finditer(text)]
    counts: dict[str, int] = {}
    for _pos, name, value in sorted(found):
        counts[name] = counts.get(name, 0) + 1
        key = f"xmp:{name}" if name != "softwareAgent" else f"xmp:softwareAgent[{counts[name]}]"
        if key in out and name != "softwareAgent":
            continue
        out[key] = value.strip()
    return out


def _fourcc(typ: bytes) -> str:
    return typ.decode("latin-1")
