"""Probe a video file: container, primary video stream, creation times, provenance, timeline.

``probe(path, policy)`` opens the file with PyAV only (no system ffmpeg), checks
that it really is a readable video -- at least one video packet exists and the
first frame decodes -- and returns a ``MediaInfo``. Every problem with the input
becomes one of the ``InputError`` subclasses of ``validator.errors`` with a
message that says how to fix it; it never lets an ``av.error`` or ``OSError``
escape. Memory stays bounded: the box walker reads only small boxes, the
timeline keeps timestamp arrays, and only the first frame is decoded.

Which creation time the verdict trusts (``recorded_at``), best first:

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

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import av.error
from av.stream import Disposition

from validator.errors import (
    AbsurdMedia,
    EmptyFile,
    InputError,
    NotAVideo,
    NoVideoStream,
    UndecodableVideo,
    UsageError,
)
from validator.media.provenance import (
    BoxInfo,
    ProvenanceHit,
    detect_provenance,
    qt_time,
    scan_boxes,
)
from validator.media.sniff import sniff
from validator.media.timeline import Timeline, read_timeline
from validator.timeutil import iso, parse_time

if TYPE_CHECKING:
    from validator.policy import Policy

MAX_SIDE_PX = 16384  # no phone records more than 8K; ffmpeg's own decoders stop near here
FIRST_FRAME_MAX_PACKETS = 300  # bound on packets fed before the first frame must appear
EARLIEST_PLAUSIBLE = datetime(1990, 1, 1, tzinfo=UTC)
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

# Demuxers that read still pictures (ffmpeg's image2 family and friends).
_IMAGE_FORMATS = frozenset({"image2", "gif", "apng", "webp", "ico", "alias_pix", "brender_pix"})
# Codecs of still pictures: a single frame of these is a photo, not a recording.
_IMAGE_CODECS = frozenset(
    {
        "png",
        "apng",
        "mjpeg",
        "jpegls",
        "jpeg2000",
        "jpegxl",
        "bmp",
        "gif",
        "tiff",
        "webp",
        "pam",
        "pgm",
        "ppm",
        "pbm",
        "qoi",
        "targa",
        "sgi",
        "psd",
        "dds",
        "exr",
        "hdr",
        "svg",
    }
)
# ISO-BMFF brands of HEIF/AVIF still images and image sequences.
_IMAGE_BRANDS = frozenset({"mif1", "msf1", "heic", "heix", "heim", "heis", "hevc", "avif", "avis"})
_VIDEO_CONTAINERS = frozenset({"isobmff", "matroska", "avi", "mpegts", "mpegps", "flv", "asf"})

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


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What ``probe`` learned about a video file. ``to_dict()`` is JSON-ready.

    ``width``/``height`` are as DISPLAYED (after rotation; sample aspect ratio
    is not applied); ``coded_width`` / ``coded_height`` are the decoded picture
    as stored. ``fps_nominal`` is the stream's average rate (ffprobe's
    avg_frame_rate), else its guessed rate; ``fps_measured``, ``vfr`` and
    ``frame_count`` come from the packet timeline. ``start_time_s`` is the video
    stream's own start (an edit-list shift shows here, not as a gap). ``rotation`` is the
    clockwise rotation in degrees (0/90/180/270) that turns the stored picture
    upright for display: an iPhone portrait clip is 90 (ffmpeg's display matrix
    and PyAV's ``frame.rotation`` say -90, counter-clockwise positive).
    """

    path: str
    size_bytes: int
    format_name: str
    duration_s: float
    width: int
    height: int
    coded_width: int
    coded_height: int
    rotation: int
    codec: str
    pix_fmt: str | None
    bit_depth: int | None
    fps_nominal: float | None
    fps_measured: float | None
    vfr: bool
    has_audio: bool
    video_stream_index: int
    start_time_s: float
    frame_count: int
    creation_times: tuple[CreationTime, ...]
    rejected_times: tuple[CreationTime, ...]
    recorded_at: datetime | None
    recorded_at_source: str | None
    recorded_at_why: str
    tags: dict[str, str]
    provenance: tuple[ProvenanceHit, ...]
    timeline: Timeline
    audio_stream_index: int | None = None
    rotation_source: str = "none"
    mirrored: bool = False
    major_brand: str | None = None
    boxes: BoxInfo | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None, nd: int = 3) -> float | None:
            return None if x is None else round(float(x), nd)

        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "format_name": self.format_name,
            "major_brand": self.major_brand,
            "duration_s": r(self.duration_s),
            "width": self.width,
            "height": self.height,
            "coded_width": self.coded_width,
            "coded_height": self.coded_height,
            "rotation": self.rotation,
            "rotation_source": self.rotation_source,
            "mirrored": self.mirrored,
            "codec": self.codec,
            "pix_fmt": self.pix_fmt,
            "bit_depth": self.bit_depth,
            "fps_nominal": r(self.fps_nominal),
            "fps_measured": r(self.fps_measured),
            "vfr": self.vfr,
            "has_audio": self.has_audio,
            "video_stream_index": self.video_stream_index,
            "audio_stream_index": self.audio_stream_index,
            "start_time_s": r(self.start_time_s, 6),
            "frame_count": self.frame_count,
            "creation_times": [c.to_dict() for c in self.creation_times],
            "rejected_times": [c.to_dict() for c in self.rejected_times],
            "recorded_at": None if self.recorded_at is None else self.recorded_at.isoformat(),
            "recorded_at_utc": iso(self.recorded_at),
            "recorded_at_source": self.recorded_at_source,
            "recorded_at_why": self.recorded_at_why,
            "tags": dict(self.tags),
            "provenance": [h.to_dict() for h in self.provenance],
            "timeline": self.timeline.to_dict(),
            "boxes": None if self.boxes is None else self.boxes.to_dict(),
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------- probe


def probe(path: str | Path, policy: Policy) -> MediaInfo:
    """Open ``path``, prove it is a decodable video, and describe it (see module docstring).

    Raises ``EmptyFile``, ``NotAVideo``, ``NoVideoStream``, ``UndecodableVideo``,
    ``AbsurdMedia`` (or plain ``InputError`` when the file cannot be read at all).
    """
    p = Path(path)
    name = p.name
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise InputError(f"{p} is not a file. Pass the path of the video file itself.")
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise InputError(
            f"cannot read {p}: {e.strerror or e}. Check the path and the file's permissions.",
            details={"path": str(p)},
        ) from e
    if size == 0:
        raise EmptyFile(
            f"{name} is empty (0 bytes): the upload or copy did not finish. "
            "Upload the recording again from the phone's album.",
            details={"path": str(p)},
        )

    kind = sniff(head)
    if kind.startswith("image:"):
        raise _not_a_video(name, f"a {kind[6:].upper()} picture")
    if kind == "text":
        raise _not_a_video(name, "a text file renamed to a video name")

    boxes = scan_boxes(p) if kind == "isobmff" else None
    warnings: list[str] = list(boxes.warnings) if boxes else []
    if boxes is not None:
        if boxes.major_brand in _IMAGE_BRANDS:
            raise _not_a_video(name, f"a HEIF/AVIF image (brand {boxes.major_brand!r})")
        cut = [t for t in boxes.truncated if t in ("moov", "mdat")]
        if cut:
            raise UndecodableVideo(
                f"{name} is cut short: its {'/'.join(cut)} box runs past the end of the "
                f"file ({size} bytes), so part of the recording is missing. Copy the "
                "complete original file from the phone again.",
                details={"reason": "truncated", "boxes": cut, "size_bytes": size},
            )
        if boxes.truncated:
            warnings.append(f"top-level box {boxes.truncated} runs past the end of the file")

    try:
        container = av.open(str(p), metadata_errors="replace")
    except (av.error.FFmpegError, OSError, ValueError) as e:
        if kind in _VIDEO_CONTAINERS:
            raise UndecodableVideo(
                f"{name} looks like a {kind} video but cannot be opened ({_err(e)}): it is "
                "truncated or damaged. Copy the original recording from the phone again.",
                details={"reason": "cannot_open", "container": kind, "error": _err(e)},
            ) from e
        raise _not_a_video(name, f"not a format this tool reads ({_err(e)})") from e

    try:
        facts = _inspect(container, name, policy, boxes)
    except (av.error.FFmpegError, OSError, ValueError) as e:  # PyAV also raises ValueError
        raise UndecodableVideo(
            f"{name} cannot be read ({_err(e)}): it is damaged. Copy the original recording "
            "from the phone again.",
            details={"reason": "read_error", "error": _err(e)},
        ) from e
    finally:
        container.close()

    tags: dict[str, str] = facts["tags"]
    if boxes is not None:
        for k, v in boxes.evidence().items():
            tags.setdefault(k, v)

    try:
        timeline = read_timeline(
            p,
            facts["video_index"],
            facts["audio_index"],
            capture_fps=_float(tags.get("format:com.android.capture.fps")),
        )
    except (av.error.FFmpegError, OSError, ValueError) as e:  # PyAV also raises ValueError
        raise UndecodableVideo(
            f"{name}: reading its packets failed ({_err(e)}). The file is damaged; copy the "
            "original recording from the phone again.",
            details={"reason": "demux_error", "error": _err(e)},
        ) from e
    if timeline.demux_error:
        warnings.append(f"demuxing stopped early: {timeline.demux_error}")
    if timeline.frame_count <= 1:
        raise _not_a_video(name, "a single picture, not a recording")

    duration = facts["duration_s"]
    if duration is None or duration <= 0:
        end = timeline.video.end_s
        duration = end if end is not None and end > 0 else None
    if duration is None or duration <= 0 or not math.isfinite(duration):
        raise AbsurdMedia(
            f"{name} has no positive duration; it is not a playable recording. "
            "Upload the original video.",
            details={"reason": "duration", "duration_s": duration},
        )
    max_dur = float(policy["media.max_duration_s"])
    if duration > max_dur:
        raise AbsurdMedia(
            f"{name} lasts {duration:.0f} s, over the {max_dur:.0f} s limit of policy "
            f"{policy.name} (media.max_duration_s). Upload only the unboxing recording.",
            details={"reason": "duration", "duration_s": duration, "limit_s": max_dur},
        )

    accepted, rejected = _creation_times(tags, boxes, facts["video_index"])
    recorded, why = _choose_recorded(accepted, rejected)
    provenance = detect_provenance(tags, boxes)

    rot = facts["rotation"]
    cw, ch = facts["coded_width"], facts["coded_height"]
    width, height = (ch, cw) if rot in (90, 270) else (cw, ch)
    return MediaInfo(
        path=str(p),
        size_bytes=size,
        format_name=facts["format_name"],
        duration_s=float(duration),
        width=width,
        height=height,
        coded_width=cw,
        coded_height=ch,
        rotation=rot,
        rotation_source=facts["rotation_source"],
        mirrored=facts["mirrored"],
        codec=facts["codec"],
        pix_fmt=facts["pix_fmt"],
        bit_depth=facts["bit_depth"],
        fps_nominal=facts["fps_nominal"],
        fps_measured=timeline.fps_measured,
        vfr=timeline.vfr,
        has_audio=timeline.audio is not None and timeline.audio.count > 0,
        video_stream_index=facts["video_index"],
        audio_stream_index=facts["audio_index"],
        start_time_s=facts["start_time_s"],
        frame_count=timeline.frame_count,
        creation_times=tuple(accepted),
        rejected_times=tuple(rejected),
        recorded_at=None if recorded is None else recorded.value,
        recorded_at_source=None if recorded is None else recorded.source,
        recorded_at_why=why,
        tags=tags,
        provenance=tuple(provenance),
        timeline=timeline,
        major_brand=None if boxes is None else boxes.major_brand,
        boxes=boxes,
        warnings=tuple(warnings),
    )


def _inspect(
    container: av.container.InputContainer, name: str, policy: Policy, boxes: BoxInfo | None
) -> dict[str, Any]:
    """Everything that needs the open container: streams, tags, the first frame."""
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe") or fmt == "tty":
        raise _not_a_video(name, f"a picture or text read by the {fmt!r} demuxer")

    tags: dict[str, str] = {f"format:{k}": str(v) for k, v in container.metadata.items()}
    for s in container.streams:
        for k, v in s.metadata.items():
            tags[f"stream{s.index}:{k}"] = str(v)

    videos = [
        s
        for s in container.streams.video
        if not (s.disposition & Disposition.attached_pic) and s.codec_context is not None
    ]
    if not videos:
        audio_n = len(container.streams.audio)
        pics = len(container.streams.video)
        what = "only audio" if audio_n else "no audio or video"
        if pics:
            what += " and cover art"
        raise NoVideoStream(
            f"{name} has no video stream ({what}). Upload the camera recording of the "
            "unboxing, not an audio file or an export without pictures.",
            details={"audio_streams": audio_n, "attached_pictures": pics},
        )
    video = max(videos, key=_primary_key)
    cc = video.codec_context
    codec = cc.name if cc is not None else "unknown"
    if codec in _IMAGE_CODECS and (video.frames or 0) <= 1 and not video.duration:
        raise _not_a_video(name, f"a single {codec} picture")
    # Before decoding, reject only sizes too large to allocate; zero means "not known yet".
    if max(cc.width, cc.height) > MAX_SIDE_PX or cc.width * cc.height > policy["media.max_pixels"]:
        _check_size(name, cc.width, cc.height, policy)

    frame = _first_frame(container, video, name)
    coded_w, coded_h = int(frame.width), int(frame.height)
    _check_size(name, coded_w, coded_h, policy)

    rotation, rot_source, mirrored = _rotation(frame, video, boxes, tags)
    try:
        bit_depth: int | None = int(frame.format.components[0].bits)
    except (AttributeError, IndexError, TypeError, ValueError):
        bit_depth = None

    audio_streams = list(container.streams.audio)
    audio = max(audio_streams, key=_primary_key) if audio_streams else None

    rate = video.average_rate or video.guessed_rate
    fps_nominal = float(rate) if rate else None
    tb = float(video.time_base) if video.time_base else 0.0
    start = float(video.start_time * tb) if video.start_time is not None and tb else 0.0
    if container.duration is not None and container.duration > 0:
        duration: float | None = container.duration / av.time_base
    elif video.duration and tb:
        duration = float(video.duration * tb)
    else:
        duration = None
    return {
        "format_name": fmt,
        "tags": tags,
        "video_index": video.index,
        "audio_index": None if audio is None else audio.index,
        "codec": codec,
        "pix_fmt": frame.format.name if frame.format is not None else None,
        "bit_depth": bit_depth,
        "coded_width": coded_w,
        "coded_height": coded_h,
        "rotation": rotation,
        "rotation_source": rot_source,
        "mirrored": mirrored,
        "fps_nominal": fps_nominal,
        "start_time_s": start,
        "duration_s": duration,
    }


def _primary_key(s: av.stream.Stream) -> tuple[bool, bool, int, float]:
    """Sort key of the primary stream: default disposition, more than one frame,
    most frames, longest duration (not single-frame stills or thumbnails)."""
    frames = int(s.frames or 0)
    tb = float(s.time_base) if s.time_base else 0.0
    dur = float(s.duration * tb) if s.duration and tb else 0.0
    return (bool(s.disposition & Disposition.default), frames > 1, frames, dur)


def _first_frame(
    container: av.container.InputContainer, stream: av.stream.Stream, name: str
) -> av.VideoFrame:
    """Decode the first frame of ``stream`` within ``FIRST_FRAME_MAX_PACKETS`` packets."""
    packets = 0
    last_error: str | None = None
    try:
        for pkt in container.demux(stream):
            if pkt.size:
                packets += 1
            try:
                frames = pkt.decode()  # the final empty packet flushes the decoder
            except av.error.FFmpegError as e:
                last_error = _err(e)
                frames = []
            for fr in frames:
                if isinstance(fr, av.VideoFrame):
                    return fr
            if packets >= FIRST_FRAME_MAX_PACKETS:
                break
    except av.error.FFmpegError as e:
        last_error = _err(e)
    if packets == 0:
        raise UndecodableVideo(
            f"{name} holds no video data (its video track has no packets: a metadata-only "
            "or emptied file). Upload the original recording.",
            details={"reason": "no_packets"},
        )
    raise UndecodableVideo(
        f"{name}: the first video frame does not decode after {packets} packets"
        + (f" ({last_error})" if last_error else "")
        + ". The file is damaged or uses a codec this build cannot decode; upload the "
        "original recording.",
        details={"reason": "first_frame", "packets": packets, "error": last_error},
    )


def _rotation(
    frame: av.VideoFrame, stream: av.stream.Stream, boxes: BoxInfo | None, tags: dict[str, str]
) -> tuple[int, str, bool]:
    """(clockwise degrees to display, where it came from, mirrored)."""
    track = None
    if boxes is not None:
        track = next((t for t in boxes.tracks if t.track_id == stream.id), None)
    mirrored = bool(track and track.mirrored)
    try:
        rot = frame.rotation  # ffmpeg display matrix: counter-clockwise degrees
    except (AttributeError, ValueError):
        rot = None
    if rot is not None and rot == rot and _norm90(-float(rot)) != 0:
        return _norm90(-float(rot)), "frame display matrix", mirrored
    if track is not None and track.rotation_cw:
        return track.rotation_cw, "tkhd matrix", mirrored
    legacy = _float(tags.get(f"stream{stream.index}:rotate"))
    if legacy is not None:
        # the old ffmpeg 'rotate' tag is already clockwise
        return _norm90(legacy), "rotate tag", mirrored
    return 0, "none", mirrored


def _norm90(deg: float) -> int:
    return round(deg / 90.0) % 4 * 90


def _check_size(name: str, w: int, h: int, policy: Policy) -> None:
    max_px = int(policy["media.max_pixels"])
    if w <= 0 or h <= 0 or w > MAX_SIDE_PX or h > MAX_SIDE_PX or w * h > max_px:
        raise AbsurdMedia(
            f"{name} has frames of {w}x{h} pixels, outside what a phone records "
            f"(sides 1-{MAX_SIDE_PX}, at most {max_px} pixels by media.max_pixels of policy "
            f"{policy.name}). Upload the original camera recording.",
            details={"reason": "dimensions", "width": w, "height": h, "max_pixels": max_px},
        )


def _not_a_video(name: str, what: str) -> NotAVideo:
    return NotAVideo(
        f"{name} is not a video: {what}. Upload the unboxing recording itself "
        "(an MP4/MOV from the phone camera), not a photo, screenshot or document.",
        details={"what": what},
    )


def _err(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text[:300]


def _float(x: str | None) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------------- creation times


def _creation_times(
    tags: dict[str, str], boxes: BoxInfo | None, video_index: int
) -> tuple[list[CreationTime], list[CreationTime]]:
    """Every creation-time source, parsed; (accepted, rejected)."""
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
            value, why = _parse_time_tag(raw, naive_utc=bool(_NAIVE_UTC.match(key)))
        if value is None:
            rejected.append(CreationTime(key, raw, None, why))
        elif value < EARLIEST_PLAUSIBLE:
            rejected.append(
                CreationTime(
                    key,
                    raw,
                    None,
                    f"{value.date().isoformat()} is before 1990: a zeroed or unset clock "
                    "(QuickTime 1904 / Unix 1970 epoch), not a recording time",
                )
            )
        elif value > now + FUTURE_SLACK:
            rejected.append(
                CreationTime(key, raw, None, "in the future: the device clock was wrong")
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


def _parse_time_tag(raw: str, *, naive_utc: bool) -> tuple[datetime | None, str]:
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


def _choose_recorded(
    accepted: list[CreationTime], rejected: list[CreationTime]
) -> tuple[CreationTime | None, str]:
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
