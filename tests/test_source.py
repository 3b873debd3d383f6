"""The decode loop: timing, orientation, bounded resources, clean shutdown."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from validator.errors import AnalysisTimeout
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
