"""The browser preview (validator/report/preview.py) of an HEVC clip made here with
libx265: H.264, small, upright, and on the original's timeline frame for frame."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from validator.errors import AnalysisTimeout, NotAVideo
from validator.report.preview import browser_plays, make_preview, needs_preview

FPS = 25
SECONDS = 3


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sorted(float(f.pts * s.time_base) for f in c.decode(s))


def mean_brightness_at(path: Path, t_s: float) -> float:
    """The luma of the frame shown at ``t_s`` (the last frame starting at or before it)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        shown = None
        for f in c.decode(s):
            if float(f.pts * s.time_base) <= t_s + 1e-6:
                shown = f
        assert shown is not None
        return float(shown.to_ndarray(format="gray").mean())


def hevc_clip(path: Path, *, width: int = 960, height: int = 540, start_pts: int = 0) -> Path:
    """A clip whose brightness encodes the frame's index (a ramp over 3 s): the frame
    a time shows can be told apart from its neighbours' in either file."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx265", rate=FPS)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"x265-params": "log-level=none", "preset": "ultrafast"}
        s.codec_tag = "hvc1"
        n = FPS * SECONDS
        for i in range(n):
            level = 20 + round(200 * i / (n - 1))
            img = np.full((height, width, 3), level, np.uint8)
            img[: height // 4, : width // 4] = 255 - level  # something not flat
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = start_pts + i
            frame.time_base = Fraction(1, FPS)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


@pytest.fixture(scope="module")
def hevc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hevc_clip(tmp_path_factory.mktemp("hevc") / "phone.mp4")


def test_which_files_need_a_preview(hevc: Path, tmp_path: Path) -> None:
    assert needs_preview(hevc)
    assert not browser_plays("hevc", "mov,mp4,m4a,3gp,3g2,mj2")
    assert browser_plays("h264", "mov,mp4,m4a,3gp,3g2,mj2")
    assert not browser_plays("h264", "avi")  # no browser plays AVI in <video>
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    assert not needs_preview(junk)  # nothing to convert: the page shows the file as is


def test_the_preview_is_h264_small_and_keeps_every_frame_time(hevc: Path, tmp_path: Path) -> None:
    out = make_preview(hevc, tmp_path / "preview.mp4")
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert (s.width, s.height) == (854, 480)  # 16:9 kept, short side 480
        assert not needs_preview(out)
    src, got = frame_times(hevc), frame_times(out)
    assert len(got) == len(src)
    frame_s = 1 / FPS
    assert max(abs(a - b) for a, b in zip(src, got, strict=True)) < frame_s
    assert abs(got[-1] - src[-1]) < frame_s  # the same duration
    assert out.stat().st_size < hevc.stat().st_size * 4  # small: at 480p, not re-inflated
    # The same picture at the same time: the brightness ramp matches mid-clip.
    for t in (0.5, 1.3, 2.6):
        a, b = mean_brightness_at(hevc, t), mean_brightness_at(out, t)
        step = 200 / (FPS * SECONDS - 1)
        assert abs(a - b) < step * 0.75 + 3, (t, a, b)


def test_a_clip_that_starts_late_is_put_at_zero(tmp_path: Path) -> None:
    """The report counts from the first frame (VideoSource's t_s): so does the preview."""
    late = hevc_clip(tmp_path / "late.mp4", width=320, height=240, start_pts=FPS * 2)
    out = make_preview(late, tmp_path / "p.mp4")
    src = frame_times(late)
    got = frame_times(out)
    assert abs(got[0]) < 1 / FPS
    assert abs((got[-1] - got[0]) - (src[-1] - src[0])) < 1 / FPS


def test_time_bound_and_bad_input_leave_nothing(hevc: Path, tmp_path: Path) -> None:
    dst = tmp_path / "preview.mp4"
    with pytest.raises(AnalysisTimeout):
        make_preview(hevc, dst, timeout_s=0.0)
    assert list(tmp_path.iterdir()) == []
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(NotAVideo):
        make_preview(junk, dst)
    assert not dst.exists()


def test_a_portrait_phone_clip_is_previewed_upright(tmp_path: Path) -> None:
    """A display matrix (phones in portrait) is applied, not dropped: the preview's
    frames are the picture as the phone shows it."""
    from _media import clip

    from validator.media.source import rotation_k

    source, truth = clip("portrait-rotated")
    out = make_preview(source, tmp_path / "p.mp4")
    with av.open(str(source)) as c:
        first = next(c.decode(video=0))
        k = rotation_k(first.rotation)
        assert k % 2 == 1, truth.get("rotation")  # the fixture is turned a quarter
        upright = np.rot90(first.to_ndarray(format="gray"), k)
    with av.open(str(out)) as c:
        shown = next(c.decode(video=0))
        assert not shown.rotation
        got = shown.to_ndarray(format="gray").astype(float)
    assert got.shape[0] > got.shape[1] and min(got.shape) == 480  # portrait, 480 wide
    h, w = got.shape
    rows = np.linspace(0, upright.shape[0] - 1, h).astype(int)
    cols = np.linspace(0, upright.shape[1] - 1, w).astype(int)
    want = upright[np.ix_(rows, cols)].astype(float)
    same = np.abs(got - want).mean()
    turned = np.abs(got - want[::-1, ::-1]).mean()  # the picture upside down
    assert same < 12 and same < turned / 2, (same, turned)
