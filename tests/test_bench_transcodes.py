"""benchmarks/bench_transcodes.py's copies keep what a verdict reads, and its scoring is the
dev set's: checked on a tiny clip with audio and a creation time made here."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_transcodes

W, H, N = 96, 54, 24
# Irregular frame times (a phone's variable rate): the copies must keep each one.
TIMES_S = [round(i / 30 + (0.01 if i % 5 == 3 else 0.0), 4) for i in range(N)]
CREATED = "2026-11-20T08:40:12.000000Z"


def source(path: Path) -> Path:
    tb = Fraction(1, 90000)
    with av.open(str(path), "w") as out:
        out.metadata["creation_time"] = CREATED
        v = out.add_stream("libx264", rate=30)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.codec_context.time_base = tb
        a = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        rng = np.random.default_rng(1)
        for t in TIMES_S:
            f = av.VideoFrame.from_ndarray(rng.integers(0, 255, (H, W, 3), np.uint8), "bgr24")
            f.pts, f.time_base = round(t / tb), tb
            out.mux(v.encode(f))
        out.mux(v.encode(None))
        for i in range(48):  # 1 s of a quiet tone
            s = (np.sin(np.arange(1024) / 8.0) * 0.01).astype(np.float32)[None, :]
            af = av.AudioFrame.from_ndarray(s, format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, i * 1024
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


@pytest.mark.parametrize("transform", sorted(bench_transcodes.TRANSFORMS))
def test_a_copy_keeps_frames_times_audio_and_creation_time(tmp_path: Path, transform: str) -> None:
    src = source(tmp_path / "src.mp4")
    dst = bench_transcodes.transcode(src, tmp_path / f"copy.{transform}.mp4", transform)
    codec, _, long_side = bench_transcodes.TRANSFORMS[transform]
    with av.open(str(dst)) as c:
        assert c.metadata.get("creation_time") == CREATED
        v = c.streams.video[0]
        assert v.codec_context.name == {"libx264": "h264", "libx265": "hevc"}[codec]
        want = (1920, 1080) if long_side == 1920 else (W, H)
        assert (v.codec_context.width, v.codec_context.height) == want
        times = sorted(float(f.time) for f in c.decode(v))
        assert c.streams.audio, "the audio track was dropped"
    assert times == pytest.approx(TIMES_S, abs=1e-4)
    # Made once: a second call finds the copy and writes nothing.
    before = dst.stat().st_mtime_ns
    bench_transcodes.transcode(src, dst, transform)
    assert dst.stat().st_mtime_ns == before


@pytest.mark.parametrize(
    ("verdict", "allowed", "want"),
    [
        ("pass", ["pass"], "exact"),
        ("fail", "fail", "exact"),  # truth.json gives one verdict as a string
        ("fail", "pass", "false fail"),
        ("review", "fail", "missed"),
        ("review", ["pass", "review"], "exact"),
        ("fail", ["pass"], "false fail"),
        ("pass", ["fail"], "false pass"),
        ("pass", ["review", "fail"], "false pass"),
        ("review", ["fail"], "missed"),
        ("review", "pass", "needless review"),
        ("fail", ["review", "pass"], "stricter"),
    ],
)
def test_scores_as_the_dev_set_does(verdict: str, allowed: str | list[str], want: str) -> None:
    assert bench_transcodes.score(verdict, allowed) == want


def test_flicker_rolls_bands_down_the_picture() -> None:
    """The bands: FLICKER_BANDS of them down the picture, their depth the share it says,
    and one frame later (30 fps) moved on by a third of their spacing (100 Hz / 30 fps)."""
    flat = np.full((400, 8, 3), 200, np.uint8)
    rows = np.arange(400) / 400

    def band_phase(t_s: float) -> tuple[float, float]:
        """The bands' depth (levels) and phase (cycles), fitted at the band frequency."""
        y = bench_transcodes.flicker(flat, t_s)[:, 0, 0].astype(float) - 200
        arg = 2 * np.pi * bench_transcodes.FLICKER_BANDS * rows
        s, c = (y @ np.sin(arg)) * 2 / len(y), (y @ np.cos(arg)) * 2 / len(y)
        return float(np.hypot(s, c)), float(np.arctan2(c, s) / (2 * np.pi))

    depth, phase0 = band_phase(0.0)
    _, phase1 = band_phase(1 / 30)
    assert depth == pytest.approx(200 * bench_transcodes.FLICKER_SHARE, rel=0.1)
    moved = (phase1 - phase0) % 1.0
    assert min(moved, 1 - moved) == pytest.approx(1 / 3, abs=0.02)
