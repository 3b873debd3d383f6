"""Probe a video file: container, primary video stream, creation times, provenance, timeline.

``probe(path, policy)`` opens the file with PyAV only (no system ffmpeg), checks
that it really is a readable video -- at least one video packet exists and the
first frame decodes -- and returns a ``MediaInfo``. Every problem with the input
becomes one of the ``InputError`` subclasses of ``validator.errors`` with a
message that says how to fix it; it never lets an ``av.error`` or ``OSError``
escape. Memory stays bounded: the box walker reads only small boxes, the
timeline keeps timestamp arrays, and only the first frame is decoded.

The steps live in their own modules; this one runs them in order and keeps the limits
that need all of them (a single frame, the duration, the decode budget):

* ``sniff``: what the file is from its first bytes (pictures and text are refused
  before a decoder sees them);
* ``boxes``: the ISO-BMFF box walker (MP4/MOV/3GP only);
* ``container``: the opened container's streams, tags, first frame and rotation;
* ``timeline``: the packet timestamps;
* ``creation_times``: which creation time the verdict trusts (``recorded_at``), and why;
* ``provenance``: editing-software signatures in the tags and boxes.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import av.error

from validator.errors import (
    AbsurdMedia,
    EmptyFile,
    UndecodableVideo,
    UnreadableFile,
    VideoMissing,
)
from validator.media.boxes import BoxInfo, scan_boxes
from validator.media.container import (
    error_text,
    finite_float,
    inspect_container,
    not_a_video,
    open_input,
)
from validator.media.creation_times import (
    CreationTime,
    choose_recorded,
    ranked_creation_times,
)
from validator.media.provenance import ProvenanceHit, detect_provenance
from validator.media.sniff import VIDEO_KINDS, sniff
from validator.media.timeline import Timeline, read_timeline
from validator.timeutil import iso

if TYPE_CHECKING:
    from validator.policy import Policy

# ISO-BMFF brands of HEIF/AVIF still images and image sequences.
_IMAGE_BRANDS = frozenset({"mif1", "msf1", "heic", "heix", "heim", "heis", "hevc", "avif", "avis"})


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
    # The frames' timestamps are the packets' in the order they are read (a stream that
    # reorders frames, muxed without composition offsets): see ``VideoSource(retime=)``.
    pts_in_decode_order: bool = False

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


def _read_head(p: Path) -> tuple[bytes, int]:
    """The first 4 KiB and the size of ``p``, a regular file. Messages name the file,
    never its folder (the service's storage path is nobody's business).

    Opened without blocking and checked on the open descriptor: a fifo or device
    named like a video never hangs the caller, even one swapped in after a check.
    """
    name = p.name
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as e:
        raise VideoMissing(
            f"{name} is not there (any more): it was removed or moved, or it is a link to "
            "nothing. Upload or copy the video again.",
            details={"name": name},
        ) from e
    except OSError as e:
        raise UnreadableFile(
            f"cannot read {name}: {e.strerror or type(e).__name__}. Check the file's permissions.",
            details={"name": name},
        ) from e
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        # Checked on the descriptor, before a file object: Python refuses to make one of
        # a folder (IsADirectoryError, which is no ValidatorError).
        os.close(fd)
        raise UnreadableFile(
            f"{name} is not a regular file (a folder, pipe or device). Pass the video file itself.",
            details={"name": name},
        )
    with os.fdopen(fd, "rb") as f:
        try:
            return f.read(4096), st.st_size
        except OSError as e:
            raise UnreadableFile(
                f"cannot read {name}: {e.strerror or type(e).__name__}. Copy the file again.",
                details={"name": name},
            ) from e


def _check_decode_budget(
    name: str,
    size_bytes: int,
    width: int,
    height: int,
    timeline: Timeline,
    duration_s: float,
    policy: Policy,
    *,
    fps: float | None,
) -> None:
    """Refuse, before the analysis decodes a frame, a file whose pictures cost more to
    decode than ``policy.media`` allows: the work is width x height x frames (each frame
    is decoded once; the timeline counted them from the packets, decoding none).

    Two budgets: ``max_decoded_pixels`` bounds a check's work; ``max_pixels_per_byte``
    bounds what a small upload can buy (a decode bomb: flat 8K pictures of a few bytes
    each that pass every other limit and hold a worker for minutes).
    """
    frames = timeline.frame_count
    pixels = width * height * frames
    per_byte = pixels / max(1, size_bytes)
    what = (
        f"{name} holds {frames} frames of {width}x{height}"
        + (f" at {fps:.3g} fps" if fps else "")
        + f" over {duration_s:.1f} s in {size_bytes} bytes: {pixels} pixels to decode"
    )
    numbers = {
        "width": width,
        "height": height,
        "fps": fps,
        "duration_s": duration_s,
        "frames": frames,
        "size_bytes": size_bytes,
        "decoded_pixels": pixels,
        "pixels_per_byte": round(per_byte, 1),
    }
    budget = policy.media.max_decoded_pixels
    if pixels > budget:
        raise AbsurdMedia(
            f"{what}, over the budget of {budget} (media.max_decoded_pixels of policy "
            f"{policy.name}). Upload only the unboxing recording, as the phone recorded it.",
            details={"reason": "decode_budget", **numbers, "budget": budget},
        )
    limit = policy.media.max_pixels_per_byte
    if per_byte > limit:
        raise AbsurdMedia(
            f"{what}, {per_byte:.0f} pixels a byte, over the {limit:g} of "
            f"media.max_pixels_per_byte (policy {policy.name}): no camera stores that many "
            "pictures in so few bytes. Upload the original recording from the phone's camera.",
            details={"reason": "pixels_per_byte", **numbers, "limit": limit},
        )


def probe(path: str | Path, policy: Policy) -> MediaInfo:
    """Open ``path``, prove it is a decodable video, and describe it (see module docstring).

    Raises ``EmptyFile``, ``NotAVideo``, ``NoVideoStream``, ``UndecodableVideo``,
    ``AbsurdMedia``; ``VideoMissing`` or ``UnreadableFile`` when the file cannot be read.
    """
    p = Path(path)
    name = p.name
    head, size = _read_head(p)
    if size == 0:
        raise EmptyFile(
            f"{name} is empty (0 bytes): the upload or copy did not finish. "
            "Upload the recording again from the phone's album.",
            details={"name": name},
        )

    kind = sniff(head)
    if kind.startswith("image:"):
        raise not_a_video(name, f"a {kind[6:].upper()} picture")
    if kind == "text":
        raise not_a_video(name, "a text file renamed to a video name")

    boxes = scan_boxes(p) if kind == "isobmff" else None
    warnings: list[str] = list(boxes.warnings) if boxes else []
    if boxes is not None:
        if boxes.major_brand in _IMAGE_BRANDS:
            raise not_a_video(name, f"a HEIF/AVIF image (brand {boxes.major_brand!r})")
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
        container = open_input(p, metadata_errors="replace")
    except (av.error.FFmpegError, OSError, ValueError) as e:
        if kind in VIDEO_KINDS:
            raise UndecodableVideo(
                f"{name} looks like a {kind} video but cannot be opened ({error_text(e)}): it is "
                "truncated or damaged. Copy the original recording from the phone again.",
                details={"reason": "cannot_open", "container": kind, "error": error_text(e)},
            ) from e
        raise not_a_video(name, f"not a format this tool reads ({error_text(e)})") from e

    try:
        facts = inspect_container(container, name, policy, boxes)
    except MemoryError:  # FFmpeg's ENOMEM is one too: not a damaged file
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:  # PyAV also raises ValueError
        raise UndecodableVideo(
            f"{name} cannot be read ({error_text(e)}): it is damaged. Copy the original recording "
            "from the phone again.",
            details={"reason": "read_error", "error": error_text(e)},
        ) from e
    finally:
        container.close()

    tags = facts.tags
    if boxes is not None:
        for k, v in boxes.evidence().items():
            tags.setdefault(k, v)

    try:
        timeline = read_timeline(
            p,
            facts.video_index,
            facts.audio_index,
            capture_fps=finite_float(tags.get("format:com.android.capture.fps")),
        )
    except (av.error.FFmpegError, OSError, ValueError) as e:  # PyAV also raises ValueError
        raise UndecodableVideo(
            f"{name}: reading its packets failed ({error_text(e)}). The file is damaged; copy the "
            "original recording from the phone again.",
            details={"reason": "demux_error", "error": error_text(e)},
        ) from e
    if timeline.demux_error:
        warnings.append(f"demuxing stopped early: {timeline.demux_error}")
    if timeline.frame_count <= 1 and timeline.video.no_timestamp > 1:
        # Frames without any time (a raw .h264/.hevc stream, an MPEG-TS cut at an arbitrary
        # byte): a video, but nothing here can say when each frame was taken.
        raise UndecodableVideo(
            f"{name}: its {timeline.video.no_timestamp} video frames carry no timestamps (a raw "
            "stream, or a file cut from the middle of one), so no gap or pause can be found. "
            "Upload the camera's own recording (MP4/MOV), as the phone saved it.",
            details={"reason": "no_timestamps", "packets": timeline.video.no_timestamp},
        )
    if timeline.frame_count <= 1:
        raise not_a_video(name, "a single picture, not a recording")
    # A codec that reorders frames (B-frames) whose packets' pts only ever rise: the muxer
    # wrote decode times as presentation times (no composition offsets; the opencv-doc
    # box.mp4 of ../shared/realdata). The decoder then hands out frames in display order
    # carrying decode-order times (231 of its 454 steps went backwards). Their true times
    # are the packets' times in rising order.
    decode_order = facts.reorders and timeline.video.pts_in_read_order
    if decode_order:
        warnings.append(
            "the video's timestamps are in decode order (a stream with B-frames muxed "
            "without composition offsets); frames are timed from the packets instead"
        )

    duration = facts.duration_s
    if duration is None or duration <= 0:
        end = timeline.video.end_s
        duration = end if end is not None and end > 0 else None
    if duration is None or duration <= 0 or not math.isfinite(duration):
        raise AbsurdMedia(
            f"{name} has no positive duration; it is not a playable recording. "
            "Upload the original video.",
            details={"reason": "duration", "duration_s": duration},
        )
    max_dur = policy.media.max_duration_s
    if duration > max_dur:
        raise AbsurdMedia(
            f"{name} lasts {duration:.0f} s, over the {max_dur:.0f} s limit of policy "
            f"{policy.name} (media.max_duration_s). Upload only the unboxing recording.",
            details={"reason": "duration", "duration_s": duration, "limit_s": max_dur},
        )

    _check_decode_budget(
        name, size, facts.coded_width, facts.coded_height, timeline, duration, policy,
        fps=facts.fps_nominal or timeline.fps_measured,
    )  # fmt: skip

    accepted, rejected = ranked_creation_times(tags, boxes, facts.video_index)
    recorded, why = choose_recorded(accepted, rejected)
    provenance = detect_provenance(tags, boxes)

    rot = facts.rotation
    cw, ch = facts.coded_width, facts.coded_height
    width, height = (ch, cw) if rot in (90, 270) else (cw, ch)
    return MediaInfo(
        path=str(p),
        size_bytes=size,
        format_name=facts.format_name,
        duration_s=float(duration),
        width=width,
        height=height,
        coded_width=cw,
        coded_height=ch,
        rotation=rot,
        rotation_source=facts.rotation_source,
        mirrored=facts.mirrored,
        codec=facts.codec,
        pix_fmt=facts.pix_fmt,
        bit_depth=facts.bit_depth,
        fps_nominal=facts.fps_nominal,
        fps_measured=timeline.fps_measured,
        vfr=timeline.vfr,
        has_audio=timeline.audio is not None and timeline.audio.count > 0,
        video_stream_index=facts.video_index,
        audio_stream_index=facts.audio_index,
        start_time_s=facts.start_time_s,
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
        pts_in_decode_order=decode_order,
    )
