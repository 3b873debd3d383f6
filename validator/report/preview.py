"""A small H.264 copy of a video for browsers that cannot play the original.

Phones record HEVC (iPhones by default since iOS 11, many Android phones at 4K);
Chromium plays HEVC only with a platform decoder, which most Linux and many Windows
machines lack, and no browser plays AVI or MPEG-TS in ``<video>``. The report page
then plays this preview instead, so the merchant can look at each finding.

The preview keeps the original's timeline: frame ``i`` is shown at the time the
report gives it (the first frame at 0 s, as ``VideoSource`` counts ``t_s``), so a
seek to a finding's time lands on the same picture in either file. It is scaled
to ``short_side_px`` (480 by default: a phone screen's width; the label's number is
the report's to read, from the original), rotated upright (the display matrix is
applied, not copied), H.264 in MP4 with ``+faststart`` (playable while it downloads),
and without sound.

It is only for looking: the check always reads the original, and the report's
SHA-256 is the original's.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from validator.errors import AnalysisTimeout, NotAVideo, NoVideoStream
from validator.files import atomic_path
from validator.media.source import rotation_k

# Codecs and containers every current browser plays in <video> without a platform
# decoder: H.264 (Chromium builds with proprietary codecs, Firefox via the OS, Safari),
# VP8/VP9 and AV1 (all three, Safari since 14.1/17). HEVC is missing on purpose:
# Chromium and Firefox play it only with hardware support. Containers: MP4/MOV and
# WebM/Matroska (Chromium plays H.264 in Matroska as WebM); not AVI, MPEG-TS or FLV.
BROWSER_CODECS = frozenset({"h264", "vp8", "vp9", "av1"})
BROWSER_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm"})

PREVIEW_NAME = "preview.mp4"
SHORT_SIDE_PX = 480
# x264's constant quality 28 at "veryfast", capped at 800 kbit/s (VBV): a legible label
# at 480p in well under a tenth of a phone's bitrate. Decoding the original is most of
# the cost. Measured on this project's 2-core machine under load: the 19 s 480p HEVC
# fixture in 2.8 s (7x real time), a 3 s 1080p HEVC clip in 1.8 s (1.6x real time).
CRF = 28
MAX_RATE_KBPS = 800
KEYFRAME_EVERY_S = 1.0  # short GOPs: a seek decodes at most 1 s of frames


def browser_plays(codec: str | None, format_name: str | None) -> bool:
    """Whether browsers play a file of this codec (FFmpeg's name, as the report's
    ``media.codec``) in this container (FFmpeg's ``format.name``, comma-separated)."""
    if not codec or codec not in BROWSER_CODECS:
        return False
    names = set((format_name or "").split(","))
    return bool(names & BROWSER_FORMATS)


def needs_preview(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a video that browsers cannot play but this module can
    convert; False when they can play it, or when it cannot be opened at all."""
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams:
                return False
            codec = streams[0].codec_context.name
            return not browser_plays(codec, container.format.name)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return False


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)  # yuv420p needs even sides


def make_preview(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    short_side_px: int = SHORT_SIDE_PX,
    timeout_s: float = 300.0,
) -> Path:
    """Write ``dst`` (MP4, H.264), the preview of ``src``; returns ``dst``.

    Written to a temporary name beside ``dst`` and renamed (``files.atomic_path``), so
    a reader never sees a half-written file; ``dst``'s folder must exist. Raises
    ``NotAVideo``/``NoVideoStream`` for what has no picture, ``AnalysisTimeout`` past
    ``timeout_s`` of wall time (nothing is left).
    """
    dst = Path(dst)
    deadline = time.monotonic() + timeout_s
    try:
        inp = av.open(str(src))
    except av.error.FFmpegError as e:
        raise NotAVideo(f"{Path(src).name} cannot be opened as a video: {e}") from e
    try:
        if not inp.streams.video:
            raise NoVideoStream(f"{Path(src).name} has no video stream")
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        tb = vin.time_base or Fraction(1, 90000)
        # Not parents: the folder of a check deleted meanwhile stays gone.
        with (
            atomic_path(dst, parents=False) as tmp,
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            _encode(inp, vin, tb, out, short_side_px, deadline, timeout_s)
    finally:
        inp.close()
    return dst


def _encode(
    inp: av.container.InputContainer,
    vin: av.video.stream.VideoStream,
    tb: Fraction,
    out: av.container.OutputContainer,
    short_side_px: int,
    deadline: float,
    timeout_s: float,
) -> None:
    rate = vin.average_rate or vin.guessed_rate or Fraction(30)
    vout: av.video.stream.VideoStream | None = None
    first_pts: int | None = None
    last_pts = -1
    k = 0
    size = (0, 0)
    for frame in inp.decode(vin):
        if time.monotonic() > deadline:
            raise AnalysisTimeout(
                f"the preview took longer than {timeout_s:.0f} s; the original is unchanged"
            )
        if vout is None:
            k = rotation_k(getattr(frame, "rotation", 0) or 0)
            w, h = (frame.height, frame.width) if k % 2 else (frame.width, frame.height)
            scale = min(1.0, short_side_px / min(w, h))
            size = (_even(w * scale), _even(h * scale))
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height = size
            vout.pix_fmt = "yuv420p"
            # The original's time base: every frame keeps its own timestamp (VFR too).
            vout.time_base = tb
            vout.codec_context.time_base = tb
            gop = max(1, round(float(rate) * KEYFRAME_EVERY_S))
            vout.codec_context.gop_size = gop
            vout.options = {
                "preset": "veryfast",
                "crf": str(CRF),
                "maxrate": f"{MAX_RATE_KBPS}k",
                "bufsize": f"{2 * MAX_RATE_KBPS}k",
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            }
        pts = frame.pts if frame.pts is not None else last_pts + 1
        if first_pts is None:
            first_pts = pts
        pts -= first_pts
        if pts <= last_pts:  # a repeated or reordered stamp: MP4 needs rising ones
            continue
        last_pts = pts
        out_frame = _scaled_upright(frame, size, k)
        out_frame.pts = pts
        out_frame.time_base = tb
        out.mux(vout.encode(out_frame))
    if vout is None:
        raise NoVideoStream("the video stream has no decodable frame")
    out.mux(vout.encode(None))


def _scaled_upright(frame: av.VideoFrame, size: tuple[int, int], k: int) -> av.VideoFrame:
    """The frame at ``size`` (displayed width, height), turned upright by ``k`` turns."""
    if k == 0:
        return frame.reformat(width=size[0], height=size[1], format="yuv420p")
    stored = (size[1], size[0]) if k % 2 else size
    rgb = frame.reformat(width=stored[0], height=stored[1], format="rgb24").to_ndarray()
    upright = np.ascontiguousarray(np.rot90(rgb, k), dtype=np.uint8)
    return av.VideoFrame.from_ndarray(upright, format="rgb24")
