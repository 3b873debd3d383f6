"""The decode loop: one streaming pass over the video, at analysis resolution.

``VideoSource`` is a context manager that decodes the primary video stream once
(FFmpeg's own frame/slice threads, through PyAV) in a background thread, and
yields display-oriented ``Frame`` objects: the luma plane scaled to 320 px on
the long side, a small BGR image, and a ``hires()`` getter for the barcode
reader. A bounded queue between the threads keeps memory flat whatever the
video's length: only a handful of decoded frames exist at any time.

Why luma straight from ``frame.planes[0]``: measured on a 1080p H.264 clip it
costs nothing over the decode, while ``frame.reformat(format="gray")`` through
swscale costs about 20%.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from validator.errors import AnalysisTimeout, UndecodableVideo
from validator.media.container import open_input
from validator.media.frame import Frame
from validator.media.timeline import RESTART_S
from validator.models import Event, EventKind, KindReason

ANALYSIS_LONG_SIDE = 320
COLOR_LONG_SIDE = 160

# The threads each analysis in this process uses (``set_analysis_threads``), FFmpeg's
# decoder's and OpenCV's: 0 is their own choice, frame threads and OpenCV's pool, one per
# core, the shortest wall time for one check alone on the machine; n >= 1 is n of each,
# 1 for a process that is one of as many analysing processes as there are cores
# (``batch -j N``, N workers): the cores are busy anyway and the threads only add their
# own work. Measured on the 30 s 1080p bench clip (benchmarks/bench_cpu.py, 2 cores): a
# check costs about 10% fewer CPU seconds with one thread of each (frame threads cost
# 15-25% more CPU than one decoder thread; OpenCV's pool spins between small calls).
_analysis_threads = 0
_CV_THREADS = cv2.getNumThreads()  # OpenCV's own choice, to go back to


def set_analysis_threads(n: int) -> None:
    """How many threads each analysis in this process uses, FFmpeg's and OpenCV's:
    0 for their own choice (one per core), n >= 1 for n. Set once at a pool process's start."""
    global _analysis_threads
    if n < 0:
        raise ValueError(f"analysis threads must be 0 or more, got {n}")
    _analysis_threads = n
    cv2.setNumThreads(n or _CV_THREADS)


def pool_analysis_threads(processes: int) -> int:
    """The threads for each of ``processes`` analysing at once on this machine
    (``set_analysis_threads``): one when they fill the cores (more would only add their
    own work), else their own choice (0), to use the cores left."""
    return 1 if processes >= (os.cpu_count() or 1) else 0


# Codecs whose in-loop deblocking filter the analysis may skip on non-key frames. Each
# frame is then predicted from undeblocked ones, so the error grows along the GOP and the
# next key frame takes it back at once. On H.264 and HEVC it stays small (mean 0.05-1.4,
# at most 2.7 gray levels, on the generated clips, the dev set and the real clips), and
# every detector was calibrated on those pictures. A low-bitrate VP8 browser recording
# drifted 6.6 levels by the end of a 4.3 s GOP, and its key frame read as a cut: other
# codecs are decoded exactly.
SKIP_LOOP_FILTER_CODECS = frozenset({"h264", "hevc"})


def configure_decoder(stream: av.video.stream.VideoStream, *, skip_loop_filter: bool) -> None:
    """Set up ``stream``'s decoder as every decode of the library does (its threads as
    ``set_analysis_threads`` says; with ``skip_loop_filter``, the deblocking filter
    skipped on non-key frames of ``SKIP_LOOP_FILTER_CODECS``)."""
    if _analysis_threads:
        stream.codec_context.thread_count = _analysis_threads
    else:
        stream.thread_type = "AUTO"
    if skip_loop_filter and stream.codec_context.name in SKIP_LOOP_FILTER_CODECS:
        stream.codec_context.options = {"skip_loop_filter": "nokey"}


# Planar YUV formats whose planes we can read directly: name -> (bytes per sample, chroma shift)
_PLANAR = {
    "yuv420p": (1, 1),
    "yuvj420p": (1, 1),
    "yuv422p": (1, 0),
    "yuvj422p": (1, 0),
    "yuv444p": (1, 0),
    "yuvj444p": (1, 0),
    "yuv420p10le": (2, 1),
    "yuv422p10le": (2, 0),
    "yuv444p10le": (2, 0),
}


def _plane(frame: av.VideoFrame, i: int, nbytes: int) -> np.ndarray:
    """One plane as a 2-D uint8 view, honouring the line stride (no copy for 8-bit)."""
    p = frame.planes[i]
    if nbytes == 1:
        buf = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)
        return buf[:, : p.width]
    wide = np.frombuffer(memoryview(p), np.uint16).reshape(p.height, p.line_size // 2)
    # 10-bit to 8-bit: drop the two low bits; analysis does not need them.
    return (wide[:, : p.width] >> 2).astype(np.uint8)


def _scaled_size(w: int, h: int, long_side: int) -> tuple[int, int]:
    s = min(1.0, long_side / max(w, h))
    return max(1, round(w * s)), max(1, round(h * s))


def area(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``img`` scaled down to ``size`` (w, h) by area averaging (``INTER_AREA``): by
    halvings first while the factor left on both axes stays an even integer, then an odd
    integer factor k as a k x k box filter read at the blocks' centres.

    The mean of the means of 2x2 blocks is the mean of the whole block, and a box filter
    centred on a block is that block's mean: the result is the one-step resize's to
    within rounding (1 level at most, 0.13 on average on the bench clip's 1920x1080 ->
    320x180; the box filter's own 3x step is the area resize's exactly). Why: OpenCV's
    area resize has a SIMD path for exactly 2x only. Instructions counted (callgrind) on
    1080p luma: 9.9 M a frame in one 6x step, 1.0 M for 2x, then 4.0 M for 3x by area
    resize and 1.6 M by box filter.
    """
    tw, th = size
    h, w = img.shape[:2]
    halved = False
    while w % (2 * tw) == 0 and h % (2 * th) == 0:
        w, h = w // 2, h // 2
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        halved = True
    if halved and (w, h) == (tw, th):
        return img  # a new array already (never a view of the decoder's buffer)
    k = w // tw
    if k >= 3 and k % 2 == 1 and (w, h) == (k * tw, k * th):
        c = k // 2
        return np.ascontiguousarray(cv2.blur(img, (k, k))[c::k, c::k])
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)


def _orient(img: np.ndarray, k: int) -> np.ndarray:
    return img if k == 0 else np.ascontiguousarray(np.rot90(img, k))


class FrameConverter:
    """Turns decoded frames into analysis images; one per stream (it caches sizes)."""

    def __init__(self, rotation_k: int = 0) -> None:
        self.k = rotation_k % 4

    def luma(self, frame: av.VideoFrame) -> np.ndarray:
        fmt = frame.format.name
        if fmt in _PLANAR:
            return _plane(frame, 0, _PLANAR[fmt][0])
        if fmt in ("nv12", "nv21", "gray"):
            return _plane(frame, 0, 1)
        return frame.to_ndarray(format="gray")

    def convert(self, frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(full-res luma view, analysis gray, small BGR), the last two display-oriented."""
        y = self.luma(frame)
        h, w = y.shape
        gw, gh = _scaled_size(w, h, ANALYSIS_LONG_SIDE)
        gray = area(y, (gw, gh))
        cw, ch = _scaled_size(w, h, COLOR_LONG_SIDE)
        fmt = frame.format.name
        if fmt in _PLANAR:
            nbytes = _PLANAR[fmt][0]
            u = area(_plane(frame, 1, nbytes), (cw, ch))
            v = area(_plane(frame, 2, nbytes), (cw, ch))
            ys = area(gray, (cw, ch))
            color = cv2.cvtColor(cv2.merge((ys, u, v)), cv2.COLOR_YUV2BGR)
        else:
            rgb = frame.to_ndarray(format="bgr24")
            color = cv2.resize(rgb, (cw, ch), interpolation=cv2.INTER_AREA)
        return y, _orient(gray, self.k), _orient(color, self.k)

    def hires(self, y: np.ndarray, long_side: int) -> np.ndarray:
        h, w = y.shape
        if max(w, h) > long_side:
            y = cv2.resize(y, _scaled_size(w, h, long_side), interpolation=cv2.INTER_AREA)
        return _orient(y, self.k)


def rotation_k(rotation_deg: float) -> int:
    """np.rot90 turns for a display-matrix rotation (PyAV's ``frame.rotation``, CCW degrees)."""
    return round(rotation_deg / 90) % 4


_END = object()

EVENT_KINDS = (
    EventKind(
        "size_change",
        "Picture size changes",
        "画面尺寸变化",
        "the decoded picture changes size (`from`, `to` in details): recordings joined",
        # A review, not a fail: a phone camera keeps one size for a take, but a browser's
        # recorder (issue 15's, MediaRecorder) takes the track's frames as they come, and
        # a phone turned mid-recording turns them (1280x720 to 720x1280). The abrupt
        # change the detectors see there is absorbed into this event (analyze.py).
        reason=KindReason(
            "picture_size_change",
            "review",
            "The picture changes size at {times}: the phone was turned while recording in a "
            "browser, or the file joins recordings of different sizes; a person should check "
            "that the take goes on there.",
            "画面尺寸在 {times} 处发生变化：可能是在浏览器中录制时转动了手机，也可能是文件由"
            "不同尺寸的录像拼接而成；请人工确认此处录像是否连续。",
        ),
        caption="size change",
        rank=23,
    ),
)


def size_change_events(source: VideoSource) -> list[Event]:
    """The ``size_change`` events of a finished decode pass."""
    return [
        Event(
            "size_change",
            round(t, 3),
            detector="source",
            details={"from": f"{a[0]}x{a[1]}", "to": f"{b[0]}x{b[1]}"},
        )
        for t, a, b in source.size_changes
    ]


class VideoSource:
    """Streams one video's frames once; use as ``with VideoSource(...) as src: for f in src``.

    ``deadline_s`` bounds the whole decode in wall time (raises ``AnalysisTimeout``).
    ``skip_loop_filter`` trades the in-loop deblocking filter for speed where its drift
    stays below what the detectors measure (``SKIP_LOOP_FILTER_CODECS``). ``retime``
    (``MediaInfo.pts_in_decode_order``) times each frame with the smallest packet time
    not yet used: frames come out in display order, and for a file whose packets carry
    decode-order times, that is each frame's true time.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        stream_index: int | None = None,
        deadline_s: float | None = None,
        skip_loop_filter: bool = False,
        queue_size: int = 8,
        start_time_s: float | None = None,
        retime: bool = False,
    ) -> None:
        self.path = Path(path)
        self.deadline_s = deadline_s
        self._stream_index = stream_index
        self._skip_loop_filter = skip_loop_filter
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._container: av.container.InputContainer | None = None
        self._start_time_s = start_time_s
        self._retime = retime
        self.frames_decoded = 0
        self.decode_errors = 0
        # (time, size before, size after) where the decoded picture changed size
        self.size_changes: list[tuple[float, tuple[int, int], tuple[int, int]]] = []

    def __enter__(self) -> VideoSource:
        try:
            self._container = open_input(self.path)
        except (av.error.FFmpegError, OSError) as e:
            raise UndecodableVideo(f"cannot open {self.path.name} for decoding: {e}") from e
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        # Drain so a producer blocked on a full queue can see the stop flag.
        while self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        if self._container is not None:
            self._container.close()
            self._container = None

    def _stream(self) -> av.video.stream.VideoStream:
        assert self._container is not None, "use VideoSource as a context manager"
        vs = self._container.streams.video
        if not vs:
            raise UndecodableVideo(f"{self.path.name} has no video stream")
        if self._stream_index is None:
            return vs[0]
        for s in vs:
            if s.index == self._stream_index:
                return s
        raise UndecodableVideo(f"{self.path.name} has no stream #{self._stream_index}")

    def _produce(self, stream: av.video.stream.VideoStream, put: Callable[[Any], None]) -> None:
        tb = float(stream.time_base) if stream.time_base else 0.0
        conv: FrameConverter | None = None
        t0: float | None = self._start_time_s
        index = 0
        pending: list[int] = []  # packet times not yet given to a frame (``retime``)
        offset = 0.0  # added to the stream's times after its clock started again
        shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # the first frame's
        native = (0, 0)
        last_t: float | None = None
        last_step = 1 / 30.0
        try:
            for packet in self._container.demux(stream):  # type: ignore[union-attr]
                if self._stop.is_set():
                    return
                if self._retime and packet.size:
                    stamp = packet.pts if packet.pts is not None else packet.dts
                    if stamp is not None:
                        heapq.heappush(pending, stamp)
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    # A corrupt packet mid-stream: count it, keep going (the gap shows up).
                    self.decode_errors += 1
                    continue
                for frame in decoded:
                    if conv is None:
                        conv = FrameConverter(rotation_k(getattr(frame, "rotation", 0) or 0))
                    pts = frame.pts if frame.pts is not None else frame.dts
                    if pending:
                        pts = heapq.heappop(pending)
                    t = float(pts * tb) if pts is not None else index / 30.0
                    if t0 is None:
                        t0 = t
                    # A clock that starts again (files joined without re-timing: the
                    # timeline's ``time_restart``) continues one step on from the frame
                    # before, so every detector sees time run forward; a reordered
                    # frame a few steps back (box.mp4: 30 ms) is kept as it is.
                    t += offset
                    if last_t is not None and t < last_t - RESTART_S:
                        offset += last_t + last_step - t
                        t = last_t + last_step
                    if last_t is not None and t > last_t:
                        last_step = t - last_t
                    last_t = t if last_t is None else max(last_t, t)
                    y, gray, color = conv.convert(frame)
                    size = (int(frame.width), int(frame.height))
                    if shapes is None:
                        shapes, native = (gray.shape, color.shape), size
                    elif size != native:
                        # A phone turned while a browser records, or a file joined from
                        # recordings of two sizes (``EVENT_KINDS``): reported
                        # (``size_changes``) and the pictures fitted to the first size, so
                        # each detector compares pictures of one shape.
                        self.size_changes.append((t - t0, native, size))
                        native = size
                    if gray.shape != shapes[0]:
                        gray = cv2.resize(gray, shapes[0][::-1], interpolation=cv2.INTER_AREA)
                        color = cv2.resize(color, shapes[1][1::-1], interpolation=cv2.INTER_AREA)
                    c = conv

                    def hires(long_side: int, _y: np.ndarray = y, _c: FrameConverter = c):
                        return _c.hires(_y, long_side)

                    put(
                        Frame(
                            index=index,
                            t_s=t - t0,
                            gray=gray,
                            color=color,
                            keyframe=bool(frame.key_frame),
                            hires=hires,
                        )
                    )
                    index += 1
        except MemoryError as e:  # FFmpeg's ENOMEM too: past the worker's memory bound
            put(e)
        except av.error.FFmpegError as e:
            if index == 0:
                put(UndecodableVideo(f"{self.path.name} could not be decoded: {e}"))
            else:
                # Truncated tail: analyze what decoded, note the error.
                self.decode_errors += 1
        except Exception as e:  # hand any other failure to the consumer thread
            put(e)
        finally:
            self.frames_decoded = index
            put(_END)

    def __iter__(self) -> Iterator[Frame]:
        stream = self._stream()
        configure_decoder(stream, skip_loop_filter=self._skip_loop_filter)

        def put(item: Any) -> None:
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        self._thread = threading.Thread(
            target=self._produce, args=(stream, put), name="decode", daemon=True
        )
        started = time.monotonic()
        self._thread.start()
        while True:
            timeout = None
            if self.deadline_s is not None:
                timeout = self.deadline_s - (time.monotonic() - started)
                if timeout <= 0:
                    raise AnalysisTimeout(
                        f"decoding {self.path.name} ran past its {self.deadline_s:.0f} s budget; "
                        "the file is damaged or far larger than an unboxing video"
                    )
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
