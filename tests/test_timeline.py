"""Packet timeline and gap finding: generated clips with known holes, real clips without.

Generated MP4s are written with PyAV (libx264, AAC) with chosen PTS, so the truth
is known; the real androidx clips carry B-frames, edit lists and slow motion,
which must not look like gaps.
"""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _media import ANDROIDX
from hypothesis import given, settings
from hypothesis import strategies as st

from validator.media.timeline import (
    SHORT_GAPS_KEPT,
    StreamTimeline,
    Timeline,
    find_gaps,
    find_gaps_in_times,
    keyframes_off_grid,
    read_timeline,
)
from validator.policy import Policy, load_policy
from validator.requirements import completeness

TB = Fraction(1, 90000)
FPS = 30
STEP = 90000 // FPS  # ticks per frame at 30 fps
TAKE_S = 30.0  # a take of ordinary length, for the completeness verdict


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy()


def with_max_gap(policy: Policy, max_gap_s: float) -> Policy:
    return dataclasses.replace(
        policy, completeness=dataclasses.replace(policy.completeness, max_gap_s=max_gap_s)
    )


def write_mp4(
    path: Path,
    video_ticks: list[int],
    *,
    bframes: int = 0,
    audio_pts: list[int] | None = None,
) -> Path:
    """A 64x48 noise clip whose frames have exactly ``video_ticks`` (1/90000 s) as PTS."""
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(
            "libx264",
            rate=FPS,
            # b-adapt=0 forces the B-frames even on noise; a fixed GOP keeps it simple
            options={"x264-params": f"bframes={bframes}:b-adapt=0:keyint=30:scenecut=0"},
        )
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.time_base = TB
        vs.codec_context.time_base = TB
        vs.codec_context.max_b_frames = bframes
        aus = out.add_stream("aac", rate=48000) if audio_pts is not None else None
        for t in video_ticks:
            img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            fr = av.VideoFrame.from_ndarray(img, format="rgb24")
            fr.pts, fr.time_base = int(t), TB
            for pkt in vs.encode(fr):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
        if aus is not None and audio_pts is not None:
            for t in audio_pts:
                samples = (rng.standard_normal((1, 1024)) * 0.1).astype(np.float32)
                af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 48000, int(t), Fraction(1, 48000)
                for pkt in aus.encode(af):
                    out.mux(pkt)
            for pkt in aus.encode(None):
                out.mux(pkt)
    return path


def timeline_of(path: Path) -> Timeline:
    with av.open(str(path)) as c:
        v = c.streams.video[0].index
        a = c.streams.audio[0].index if c.streams.audio else None
    return read_timeline(path, v, a)


# ------------------------------------------------------------------ generated clips


def test_regular_clip_has_no_gap(tmp_path: Path, policy: Policy) -> None:
    tl = timeline_of(write_mp4(tmp_path / "regular.mp4", [i * STEP for i in range(60)]))
    assert tl.frame_count == 60
    assert tl.fps_measured == pytest.approx(30.0, rel=1e-3)
    assert not tl.vfr
    assert find_gaps(tl, policy) == []


def test_jittered_phone_rhythm_has_no_gap(tmp_path: Path, policy: Policy) -> None:
    rng = np.random.default_rng(7)
    steps = (rng.uniform(0.6, 1.6, 120) * STEP).astype(int)
    ticks = np.concatenate(([0], np.cumsum(steps))).tolist()
    tl = timeline_of(write_mp4(tmp_path / "jitter.mp4", ticks))
    assert tl.vfr
    assert find_gaps(tl, policy) == []


@pytest.mark.parametrize("bframes", [0, 2], ids=["no-bframes", "bframes-2"])
def test_two_second_hole_is_found_within_a_frame(
    tmp_path: Path, policy: Policy, bframes: int
) -> None:
    ticks = [i * STEP for i in range(30)] + [i * STEP + 2 * 90000 for i in range(30, 60)]
    tl = timeline_of(write_mp4(tmp_path / "hole.mp4", ticks, bframes=bframes))
    gaps = find_gaps(tl, policy)
    assert [g.kind for g in gaps] == ["gap"]
    frame = 1 / FPS
    assert abs(gaps[0].t_s - 29 * frame) <= frame  # last frame before the hole
    assert abs(gaps[0].length_s - 2.0) <= frame
    assert gaps[0].details["next_s"] == pytest.approx(30 * frame + 2.0, abs=frame)


def holes_every(n_frames: int, every: int, hole_s: float) -> list[int]:
    """Frame times at 30 fps with ``hole_s`` missing after every ``every``-th frame."""
    extra = round(hole_s * 90000)
    return [i * STEP + (i // every) * extra for i in range(n_frames)]


@pytest.mark.parametrize(("every", "holes"), [(10, 2), (4, 30)])
def test_short_holes_that_add_up_ask_for_a_review(
    tmp_path: Path, policy: Policy, every: int, holes: int
) -> None:
    """Holes each under ``max_gap_s`` (0.5 s) prove no pause one by one; two of 0.3 s miss
    as much as one hole that does, and 30 of them most of the video."""
    ticks = holes_every(every * (holes + 1), every, 0.3)
    gaps = find_gaps(timeline_of(write_mp4(tmp_path / "holes.mp4", ticks)), policy)
    summary = [g for g in gaps if g.kind == "short_gaps"]
    assert len(summary) == 1 and summary[0].details["count"] == holes
    frame = 1 / FPS
    assert summary[0].t_s == pytest.approx((every - 1) * frame, abs=frame)  # the first hole
    assert summary[0].details["total_s"] == pytest.approx(0.3 * holes, abs=holes * frame)
    # Each hole is listed, up to a cap (a report stays readable): none is itself a fail.
    shown = [g for g in gaps if g.kind == "gap"]
    assert len(shown) == min(holes, SHORT_GAPS_KEPT)
    assert all(g.length_s <= policy.completeness.max_gap_s for g in shown)
    req = completeness(TAKE_S, gaps, policy)
    assert req.verdict == "review"
    assert [r.code for r in req.reasons] == ["timestamp_gaps_add_up"]
    assert f"{holes} short holes" in req.reasons[0].message_en


def test_one_short_hole_is_no_review(tmp_path: Path, policy: Policy) -> None:
    """One hole under ``max_gap_s`` (a phone's slow-motion clip has one of 0.29 s) is no
    proof and no question either; with a second it would add up to 0.6 s."""
    ticks = holes_every(20, 10, 0.3)
    gaps = find_gaps(timeline_of(write_mp4(tmp_path / "hole.mp4", ticks)), policy)
    assert [g.kind for g in gaps] == ["gap"]
    assert completeness(TAKE_S, gaps, policy).verdict == "pass"


def test_bframes_arrive_out_of_order_but_give_no_gap(tmp_path: Path, policy: Policy) -> None:
    path = write_mp4(tmp_path / "bf.mp4", [i * STEP for i in range(90)], bframes=2)
    with av.open(str(path)) as c:
        decode_order = [p.pts for p in c.demux(c.streams.video[0]) if p.size]
    assert decode_order != sorted(decode_order), "the fixture must really contain B-frames"
    tl = timeline_of(path)
    assert np.all(np.diff(tl.video.pts_s) > 0)
    assert tl.video.duplicate_pts == 0 and tl.video.non_monotonic_dts == 0
    assert tl.video.pts_s[0] == 0.0  # relative to the first displayed frame
    assert find_gaps(tl, policy) == []


def test_audio_hole_is_found(tmp_path: Path, policy: Policy) -> None:
    # 1024-sample AAC packets at 48 kHz; one second of audio missing after packet 46
    audio = [i * 1024 for i in range(47)] + [i * 1024 + 48000 for i in range(47, 141)]
    path = write_mp4(tmp_path / "ahole.mp4", [i * STEP for i in range(120)], audio_pts=audio)
    gaps = find_gaps(timeline_of(path), policy)
    assert [g.kind for g in gaps] == ["audio_gap"]
    assert gaps[0].t_s == pytest.approx(46 * 1024 / 48000, abs=0.03)
    assert gaps[0].length_s == pytest.approx(1.0, abs=0.03)


def test_continuous_audio_has_no_gap(tmp_path: Path, policy: Policy) -> None:
    audio = [i * 1024 for i in range(180)]
    path = write_mp4(tmp_path / "audio.mp4", [i * STEP for i in range(120)], audio_pts=audio)
    tl = timeline_of(path)
    assert tl.audio is not None and tl.audio.count >= 170
    assert find_gaps(tl, policy) == []


def test_policy_below_the_floor_lowers_it(tmp_path: Path, policy: Policy) -> None:
    # a 0.2 s hole: under the 0.25 s reporting floor, but a policy at 0.1 s must see it
    ticks = [i * STEP for i in range(30)] + [i * STEP + 18000 for i in range(30, 60)]
    tl = timeline_of(write_mp4(tmp_path / "small.mp4", ticks))
    assert find_gaps(tl, policy) == []
    gaps = find_gaps(tl, with_max_gap(policy, 0.1))
    assert len(gaps) == 1 and gaps[0].length_s == pytest.approx(0.2, abs=1 / FPS)


def test_timeline_to_dict_is_small_and_json_ready(tmp_path: Path) -> None:
    import json

    tl = timeline_of(write_mp4(tmp_path / "d.mp4", [i * STEP for i in range(30)]))
    d = tl.to_dict()
    json.dumps(d)
    assert d["frame_count"] == 30 and d["video"]["keyframes"] >= 1


# --------------------------------------------------------------- the pure functions


def _times(steps: list[float]) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(steps)))


@settings(max_examples=200, deadline=None, database=None)
@given(
    base=st.floats(1 / 240, 1 / 24),
    factors=st.lists(st.floats(0.6, 1.6), min_size=5, max_size=400),
)
def test_property_phone_jitter_is_never_a_gap(base: float, factors: list[float]) -> None:
    assert find_gaps_in_times(_times([f * base for f in factors])) == []


@settings(max_examples=200, deadline=None, database=None)
@given(
    base=st.floats(1 / 240, 1 / 24),
    factors=st.lists(st.floats(0.6, 1.6), min_size=5, max_size=400),
    where=st.floats(0, 1),
    hole=st.floats(0.5, 30.0),
)
def test_property_any_hole_over_half_a_second_is_found(
    base: float, factors: list[float], where: float, hole: float
) -> None:
    steps = [f * base for f in factors]
    i = min(int(where * len(steps)), len(steps) - 1)
    steps[i] += hole
    t = _times(steps)
    rng = np.random.default_rng(len(steps))
    gaps = find_gaps_in_times(rng.permutation(t))  # B-frame order must not matter
    assert len(gaps) == 1
    assert gaps[0].t_s == pytest.approx(t[i])
    assert abs(gaps[0].length_s - hole) <= 1.6 * base  # within one frame


def test_audio_durations_give_exact_holes() -> None:
    d = np.full(100, 0.02)
    t = np.arange(100) * 0.02
    assert find_gaps_in_times(t, durations_s=d) == []
    t2 = t.copy()
    t2[50:] += 0.3
    (g,) = find_gaps_in_times(t2, durations_s=d)
    assert g.t_s == pytest.approx(49 * 0.02) and g.length_s == pytest.approx(0.3)
    # MP4 stores the hole as the long duration of the packet before it
    d2 = d.copy()
    d2[49] = 0.32
    (g2,) = find_gaps_in_times(t2, durations_s=d2)
    assert g2.length_s == pytest.approx(0.3)


def test_slow_motion_media_time_is_scaled_to_real_time(policy: Policy) -> None:
    # stored at 30 fps from a 240 fps capture: 0.33 s of media time is 41 ms of real time
    pts = np.array([0.0, 0.325, 0.358, 0.392, 0.425, 0.458, 0.492])
    video = StreamTimeline("video", 0, 1 / 90000, pts, np.array([0.0]))
    assert len(find_gaps(Timeline(0.0, video), policy)) == 1
    assert find_gaps(Timeline(0.0, video, capture_fps=240.0), policy) == []
    assert Timeline(0.0, video, capture_fps=240.0).slow_motion_factor == pytest.approx(8, rel=0.01)
    # real slow-motion holes still count, in real seconds
    long_hole = np.concatenate((pts, pts[-1] + 4.0 + np.arange(1, 6) / 30))
    video2 = StreamTimeline("video", 0, 1 / 90000, long_hole, np.array([0.0]))
    (g,) = find_gaps(Timeline(0.0, video2, capture_fps=240.0), policy)
    assert g.length_s == pytest.approx(4.0 / 8, abs=0.01)


def test_keyframes_off_the_gop_grid() -> None:
    t = np.arange(300) / 30
    regular = t[::30]
    assert keyframes_off_grid(t, regular) == []
    # a second take spliced in at frame 145 restarts the GOP there
    spliced = np.concatenate((t[0:145:30], t[145::30]))
    assert keyframes_off_grid(t, spliced) == pytest.approx([t[145]])
    assert keyframes_off_grid(t, t[::1]) == []  # all-intra: no grid


# ------------------------------------------------------------------------ real clips


def _dump_times_us(dump: Path, track: int = 0) -> list[int]:
    """Sample times (us, decode order) of one track in an androidx extractor dump."""
    text = dump.read_text()
    part = re.split(r"^track (\d+):$", text, flags=re.M)
    blocks = dict(zip(part[1::2], part[2::2], strict=False))
    return [int(x) for x in re.findall(r"^\s+time = (-?\d+)$", blocks[str(track)], re.M)]


@pytest.mark.realdata
def test_bframe_clip_matches_published_sample_times(realdata: Path, policy: Policy) -> None:
    clip = realdata / ANDROIDX / "h265_bframes.mp4"
    dump = realdata / "androidx-media/libraries/test_data/src/test/assets/extractordumps/mp4"
    published = _dump_times_us(dump / "h265_bframes.mp4.0.dump")
    assert published[:5] == [0, 33333, 200000, 133333, 66666]  # decode order, as the README says
    tl = timeline_of(clip)
    assert tl.video.pts_s * 1e6 == pytest.approx(sorted(published), abs=2)
    assert find_gaps(tl, policy) == []


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("h265_bframes.mp4", id="bframes"),
        pytest.param("edit_list_positive_shift.mp4", id="edit-list-shift"),
        pytest.param("sample_edit_list_only_preroll_sync_sample.mp4", id="edit-list-preroll"),
        pytest.param("sample_android_slow_motion.mp4", id="android-slow-motion"),
        pytest.param("sample_sef_slow_motion.mp4", id="samsung-slow-motion"),
        pytest.param("sample_sef_super_slow_motion.mp4", id="samsung-super-slow-motion"),
    ],
)
def test_real_clips_without_gaps(realdata: Path, policy: Policy, name: str) -> None:
    from validator.media.probe import probe

    clip = realdata / ANDROIDX / name
    if not clip.exists():
        pytest.skip(f"{clip} is absent")
    info = probe(clip, policy)
    assert find_gaps(info.timeline, policy) == []
    assert info.timeline.video.pts_s[0] == 0.0


@pytest.mark.realdata
def test_edit_list_start_offset_is_not_a_gap(realdata: Path) -> None:
    # the video track starts after a 1 s empty edit; times are relative to its first frame
    tl = timeline_of(realdata / ANDROIDX / "edit_list_positive_shift.mp4")
    assert tl.origin_s == pytest.approx(1.0)
    assert tl.video.pts_s[0] == 0.0
    assert tl.audio is not None and tl.audio.pts_s[0] == pytest.approx(-1.0, abs=0.05)


@pytest.mark.realdata
def test_preroll_sample_is_discarded(realdata: Path) -> None:
    tl = timeline_of(realdata / ANDROIDX / "sample_edit_list_only_preroll_sync_sample.mp4")
    assert tl.video.discarded == 1
    assert tl.video.pts_s[0] == 0.0
