"""Container inspection: what only the opened container tells, and the first decoded frame.

``inspect_container`` picks the primary video (and audio) stream, collects the tags,
decodes the first frame (proof that the pictures decode, and their stored size, pixel
format and bit depth), reads the display rotation and refuses pictures read by an image
demuxer or codec and sizes too large for a phone. ``probe`` opens the container and
turns what it finds into ``MediaInfo``; the helpers at the end build the errors both
raise.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import av
import av.error
from av.stream import Disposition

from validator.errors import AbsurdMedia, NotAVideo, NoVideoStream, UndecodableVideo
from validator.media.boxes import BoxInfo

if TYPE_CHECKING:
    from validator.policy import Policy

MAX_SIDE_PX = 16384  # no phone records more than 8K; ffmpeg's own decoders stop near here
# The smallest picture analysed: no camera records under QCIF (176x144). Below 32 px on
# the short side of the 160 px colour picture, OpenCV's DIS optical flow (the faces
# detector's) crashes the process (a segmentation fault, measured with OpenCV 4.14 on
# landscape pictures 80-160 px wide and 16-31 px high), and an 8x8 clip failed the cut
# detector's 12x9 block grid (exit 70): such files are refused before the analysis.
MIN_SIDE_PX = 32
# The widest picture analysed: phones record 16:9 to 21:9 (2.33:1) either way up; at 5:1
# the colour picture (160 px on its long side) is still 32 px on its short side.
MAX_ASPECT = 5.0
FIRST_FRAME_MAX_PACKETS = 300  # bound on packets fed before the first frame must appear

# Options of every stream's probing decoder when a file is opened. FFmpeg's stream probing
# (avformat_find_stream_info) decodes frames to learn what the first decoded frame tells
# anyway: the pixel format, and for H.264 whose SPS gives no reorder count, up to 7
# frames to guess the decoder's delay (libavformat's has_decode_delay_been_guessed).
# Measured on the 30 s 1080p bench clip: 150 ms of CPU an open, 8 ms with this option,
# and a check opened the file three times (the probe twice, the decode once). It binds
# the probing decoder only: frames decode as before through the stream's own codec
# context (the same 900 frames, the same first frame), and the sizes, rates, durations
# and B-frame flag the probe reads come from the container and the parsers.
_PROBING_OPTIONS = {"skip_frame": "all"}
_PROBED_STREAMS = 64  # streams given the option; any further ones probe as FFmpeg does


def open_input(path: str | os.PathLike[str], **kwargs: Any) -> av.container.InputContainer:
    """``av.open`` for reading, without decoding frames to probe the streams."""
    # A list of option dicts, one per stream (PyAV's av.open); its stubs say list[str].
    options: Any = [dict(_PROBING_OPTIONS) for _ in range(_PROBED_STREAMS)]
    return av.open(os.fspath(path), mode="r", stream_options=options, **kwargs)


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


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    """What ``inspect_container`` read: the primary streams, the tags, the first frame.

    ``tags`` are flat ``"format:encoder"`` / ``"stream1:handler_name"`` strings;
    ``rotation`` is clockwise degrees to display (see ``MediaInfo``); ``duration_s`` is
    the container's (else the video stream's) duration, None when neither says.
    """

    format_name: str
    tags: dict[str, str]
    video_index: int
    audio_index: int | None
    codec: str
    pix_fmt: str | None
    bit_depth: int | None
    coded_width: int
    coded_height: int
    rotation: int
    rotation_source: str
    mirrored: bool
    fps_nominal: float | None
    start_time_s: float
    duration_s: float | None
    reorders: bool = False  # the codec may output frames in another order than it reads them


def inspect_container(
    container: av.container.InputContainer, name: str, policy: Policy, boxes: BoxInfo | None
) -> ContainerFacts:
    """Everything that needs the open container: streams, tags, the first frame."""
    fmt = container.format.name
    if fmt in _IMAGE_FORMATS or fmt.endswith("_pipe") or fmt == "tty":
        raise not_a_video(name, f"a picture or text read by the {fmt!r} demuxer")

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
        raise not_a_video(name, f"a single {codec} picture")
    # Before decoding, reject only sizes too large to allocate; zero means "not known yet".
    if max(cc.width, cc.height) > MAX_SIDE_PX or cc.width * cc.height > policy.media.max_pixels:
        check_size(name, cc.width, cc.height, policy)

    frame = _first_frame(container, video, name)
    coded_w, coded_h = int(frame.width), int(frame.height)
    check_size(name, coded_w, coded_h, policy)

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
    return ContainerFacts(
        format_name=fmt,
        tags=tags,
        video_index=video.index,
        audio_index=None if audio is None else audio.index,
        codec=codec,
        pix_fmt=frame.format.name if frame.format is not None else None,
        bit_depth=bit_depth,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation=rotation,
        rotation_source=rot_source,
        mirrored=mirrored,
        fps_nominal=fps_nominal,
        start_time_s=start,
        duration_s=duration,
        reorders=bool(getattr(cc, "has_b_frames", 0)),
    )


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
                last_error = error_text(e)
                frames = []
            for fr in frames:
                if isinstance(fr, av.VideoFrame):
                    return fr
            if packets >= FIRST_FRAME_MAX_PACKETS:
                break
    except av.error.FFmpegError as e:
        last_error = error_text(e)
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
    legacy = finite_float(tags.get(f"stream{stream.index}:rotate"))
    if legacy is not None:
        # the old ffmpeg 'rotate' tag is already clockwise
        return _norm90(legacy), "rotate tag", mirrored
    return 0, "none", mirrored


def _norm90(deg: float) -> int:
    return round(deg / 90.0) % 4 * 90


def check_size(name: str, w: int, h: int, policy: Policy) -> None:
    max_px = policy.media.max_pixels
    if (
        min(w, h) < MIN_SIDE_PX
        or max(w, h) > MAX_SIDE_PX
        or w * h > max_px
        or max(w, h) > MAX_ASPECT * min(w, h)
    ):
        raise AbsurdMedia(
            f"{name} has frames of {w}x{h} pixels, outside what a phone records "
            f"(sides {MIN_SIDE_PX}-{MAX_SIDE_PX}, at most {MAX_ASPECT:g}:1, at most {max_px} "
            f"pixels by media.max_pixels of policy {policy.name}). Upload the original "
            "camera recording.",
            details={"reason": "dimensions", "width": w, "height": h, "max_pixels": max_px},
        )


def not_a_video(name: str, what: str) -> NotAVideo:
    return NotAVideo(
        f"{name} is not a video: {what}. Upload the unboxing recording itself "
        "(an MP4/MOV from the phone camera), not a photo, screenshot or document.",
        details={"what": what},
    )


_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s'\"/]+/)+([^\s'\"/]*)")


def error_text(e: BaseException) -> str:
    """A library's error as text for a message: FFmpeg's and the OS's name the file by
    its full path, which a client of the service must not see: the file's name only."""
    text = str(e).strip() or type(e).__name__
    for attr in ("filename", "filename2"):
        f = getattr(e, attr, None)
        if isinstance(f, str | bytes | os.PathLike) and os.fsdecode(f):
            full = os.fsdecode(f)
            text = text.replace(full, os.path.basename(full) or full)
    return _ABSOLUTE_PATH.sub(r"\1", text)[:300]


def finite_float(x: str | None) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except ValueError:
        return None
    return v if math.isfinite(v) else None
