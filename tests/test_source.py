"""The decode loop: timing, orientation, bounded resources, clean shutdown."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from validator.errors import AnalysisTimeout
from validator.media import source
from validator.media.source import ANALYSIS_LONG_SIDE, VideoSource


def encode(path: Path, n: int = 45, w: int = 640, h: int = 360, fps: int = 30, pix="yuv420p"):
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, pix
        st.codec_context.time_base = Fraction(1, fps)
        for i in range(n):
            img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
            img[: h // 2, : w // 2] = 255  # a bright quadrant: tells orientation
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return encode(tmp_path_factory.mktemp("src") / "c.mp4")


def test_frames_in_presentation_order_with_times(clip):
    with VideoSource(clip) as src:
        frames = [(f.index, f.t_s, f.gray.shape, f.color.shape) for f in src]
    assert len(frames) == 45
    assert [f[0] for f in frames] == list(range(45))
    assert np.allclose([f[1] for f in frames], np.arange(45) / 30, atol=1e-6)
    assert frames[0][2] == (180, ANALYSIS_LONG_SIDE)
    assert frames[0][3] == (90, 160, 3)


def test_analysis_gray_matches_luma(clip):
    with VideoSource(clip) as src:
        f = next(iter(src))
        hi = f.hires(640)
    assert hi.shape == (360, 640)
    # the bright quadrant is top-left in both sizes
    assert f.gray[:80, :150].mean() > 200 and hi[:170, :300].mean() > 200


def test_deadline_raises_timeout(clip):
    with pytest.raises(AnalysisTimeout, match="budget"), VideoSource(clip, deadline_s=1e-9) as src:
        for _ in src:
            pass


def test_leaving_early_stops_the_decode_thread(clip):
    before = threading.active_count()
    with VideoSource(clip, queue_size=2) as src:
        for f in src:
            if f.index == 3:
                break
    assert threading.active_count() == before


def test_ten_bit_hevc_is_read(tmp_path):
    p = tmp_path / "h.mp4"
    rng = np.random.default_rng(1)
    with av.open(str(p), "w") as out:
        st = out.add_stream("libx265", rate=30)
        st.width, st.height, st.pix_fmt = 320, 240, "yuv420p10le"
        st.options = {"x265-params": "log-level=none"}
        for i in range(10):
            f = av.VideoFrame.from_ndarray(
                rng.integers(0, 255, (240, 320, 3), np.uint8), format="rgb24"
            )
            f.pts = i
            for pk in st.encode(f):
                out.mux(pk)
        for pk in st.encode():
            out.mux(pk)
    with VideoSource(p) as src:
        frames = list(src)
    assert len(frames) == 10
    assert frames[0].gray.dtype == np.uint8 and 60 < frames[0].gray.mean() < 200


@pytest.mark.realdata
def test_rotated_phone_clip_is_display_oriented(realdata):
    p = realdata / "metadata-extractor-images" / "mov" / "with-gps.mov"  # 568x320, rotation 90
    with VideoSource(p) as src:
        f = next(iter(src))
    assert f.gray.shape[0] > f.gray.shape[1]  # portrait as displayed


def test_skipping_the_loop_filter_changes_little(clip):
    with VideoSource(clip) as a, VideoSource(clip, skip_loop_filter=True) as b:
        fa, fb = [f.gray.astype(int) for f in a], [f.gray.astype(int) for f in b]
    assert len(fa) == len(fb) == 45
    # same pictures at analysis resolution, up to deblocking noise
    assert max(float(np.abs(x - y).mean()) for x, y in zip(fa, fb, strict=True)) < 3.0


@pytest.mark.parametrize(("codec", "skips"), [("libx264", True), ("libx265", True),
                                             ("libvpx", False), ("libvpx-vp9", False)])  # fmt: skip
def test_the_loop_filter_is_skipped_on_h264_and_hevc_only(tmp_path, codec, skips):
    frames = [np.full((64, 64, 3), 16 * i, np.uint8) for i in range(3)]
    clip = _encode(tmp_path / "c.mkv", codec, {}, frames)
    with av.open(str(clip)) as c:
        stream = c.streams.video[0]
        source.configure_decoder(stream, skip_loop_filter=True)
        assert (stream.codec_context.options.get("skip_loop_filter") == "nokey") is skips


def _encode(path: Path, codec: str, options: dict[str, str], frames: list[np.ndarray]) -> Path:
    """``frames`` (RGB) at 30 fps with ``codec`` and its ``options``."""
    with av.open(str(path), "w") as out:
        st = out.add_stream(codec, rate=30)
        st.height, st.width = frames[0].shape[:2]
        st.pix_fmt, st.options = "yuv420p", options
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), "rgb24")
            f.pts, f.time_base = i, Fraction(1, 30)
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


def _vp8(path: Path, n: int = 120) -> Path:
    """A browser-like VP8 recording: low bitrate, one 4 s GOP, a texture panning across."""
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 255, (60, 100), dtype=np.uint8)
    base = np.repeat(
        cv2.resize(texture, (800, 360), interpolation=cv2.INTER_NEAREST)[..., None], 3, 2
    )
    # A fixed speed (negative cpu-used) and one thread: the same file on any machine.
    options = {"b": "300k", "g": str(n), "deadline": "realtime", "cpu-used": "-16", "threads": "1"}
    return _encode(path, "libvpx", options, [base[:, int(i * 1.3) :][:, :640] for i in range(n)])


def test_a_vp8_recording_is_decoded_exactly_to_the_end_of_its_gop(tmp_path):
    """The check's decode of a VP8 stream gives a plain decode's pictures, to the end of a
    long GOP. Skipping the in-loop deblocking filter predicts each frame from undeblocked
    ones: on this clip the error grows to 6 gray levels on average by the GOP's end, and
    the next key frame takes it all back at once (a browser recording's key frame, under
    load, read as a cut)."""
    clip = _vp8(tmp_path / "rec.webm")
    with av.open(str(clip)) as c:
        plain = [f.to_ndarray()[: f.height] for f in c.decode(video=0)]  # luma rows
    with VideoSource(clip, skip_loop_filter=True) as src:  # as ``check`` decodes
        ours = [f.gray.astype(np.float32) for f in src]
    assert len(ours) == len(plain) == 120
    size = ours[0].shape[::-1]
    diff = [
        float(np.abs(cv2.resize(p, size, interpolation=cv2.INTER_AREA) - o).mean())
        for p, o in zip(plain, ours, strict=True)
    ]
    # Scaling alone differs by rounding (well under a level); drift would grow along the GOP.
    assert max(diff) < 1.0
    assert max(diff[-10:]) < max(diff[:10]) + 0.25


def _bframes(path: Path, n: int = 60) -> Path:
    """A clip whose encoder reorders frames (B-frames) and whose muxer kept the order."""
    base = np.random.default_rng(1).integers(0, 255, (240, 400, 3), dtype=np.uint8)
    options = {"x264-params": "bframes=3:b-adapt=0:keyint=30"}
    return _encode(path, "libx264", options, [base[:, i : i + 320] for i in range(n)])


def test_one_decoder_thread_gives_the_same_pictures(tmp_path, monkeypatch):
    """``batch -j N`` on N cores decodes with one thread (``set_analysis_threads``); FFmpeg's
    threading is bit-exact, so the analysis sees the very pictures frame threads give,
    B-frames and the skipped loop filter included."""
    clip = _bframes(tmp_path / "b.mp4", n=90)

    def pictures(threads: int) -> tuple[list[np.ndarray], int]:
        monkeypatch.setattr(source, "_analysis_threads", threads)
        with VideoSource(clip, skip_loop_filter=True) as src:
            out = [np.concatenate([f.gray.ravel(), f.color.ravel()]) for f in src]
            used = src._container.streams.video[0].codec_context.thread_count
        return out, used

    frame_threads, n_frame = pictures(0)
    one, n_one = pictures(1)
    assert n_one == 1 and n_frame != 1  # the setting reached the decoder
    assert len(one) == len(frame_threads) == 90
    assert all(np.array_equal(a, b) for a, b in zip(one, frame_threads, strict=True))


def test_pools_that_fill_the_cores_decode_with_one_thread(monkeypatch):
    from validator.batch.run import _init_process
    from validator.jobs.settings import Settings
    from validator.jobs.tasks import analysis_threads

    monkeypatch.setattr(source.os, "cpu_count", lambda: 4)
    assert [source.pool_analysis_threads(n) for n in (1, 3, 4, 8)] == [0, 0, 1, 1]
    # A worker: the setting when given, else by its concurrency.
    assert analysis_threads(Settings(), 4) == 1
    assert analysis_threads(Settings(), 2) == 0
    assert analysis_threads(Settings(analysis_threads=1), 2) == 1
    assert analysis_threads(Settings(analysis_threads=2), 4) == 2
    # batch -j N: the pool's initializer sets it in each process.
    import cv2

    own = cv2.getNumThreads()
    monkeypatch.setattr(source, "_analysis_threads", 0)
    monkeypatch.setattr("signal.signal", lambda *a: None)
    try:
        _init_process(1)
        assert source._analysis_threads == 1 and cv2.getNumThreads() == 1  # OpenCV's too
    finally:
        source.set_analysis_threads(0)
    assert cv2.getNumThreads() == own  # back to OpenCV's own choice
    with pytest.raises(ValueError, match="0 or more"):
        source.set_analysis_threads(-1)


def _decode_times_as_pts(src: Path, dst: Path) -> Path:
    """``src`` remuxed with every packet's pts set to its dts: B-frames without
    composition offsets, as the opencv-doc box.mp4 of ../shared/realdata has them."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        first = None
        for p in inp.demux(ist):
            if p.dts is None:
                continue
            first = p.dts if first is None else first
            p.pts = p.dts = p.dts - first  # from 0, as a camera's muxer writes them
            p.stream = ost
            out.mux(p)
    return dst


def test_decode_order_timestamps_are_found_and_frames_retimed(tmp_path):
    """Issue found on real footage: frames came out with times going back and forth
    (231 of 454 steps backwards on box.mp4), and per-second profiles repeated seconds."""
    from validator.media.probe import probe
    from validator.policy import load_policy

    good = _bframes(tmp_path / "good.mp4")
    broken = _decode_times_as_pts(good, tmp_path / "broken.mp4")
    policy = load_policy()
    assert not probe(good, policy).pts_in_decode_order  # proper offsets: nothing to do
    info = probe(broken, policy)
    assert info.pts_in_decode_order and any("decode order" in w for w in info.warnings)

    def times(path: Path, retime: bool) -> np.ndarray:
        with VideoSource(path, retime=retime) as src:
            return np.array([f.t_s for f in src])

    raw = times(broken, retime=False)
    assert (np.diff(raw) < 0).any()  # the fault: times that go back
    fixed = times(broken, retime=True)
    true = times(good, retime=False)
    assert len(fixed) == len(true)
    assert np.all(np.diff(fixed) > 0)
    # The same frames, the same times, up to the shift of the first frame (the broken
    # file starts at its first decode time).
    np.testing.assert_allclose(np.diff(fixed), np.diff(true), atol=1e-3)
    # On a well-formed file, re-timing changes nothing.
    np.testing.assert_allclose(times(good, retime=True), true, atol=1e-6)
