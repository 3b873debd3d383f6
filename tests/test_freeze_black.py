"""Freezes that hide time, not still scenes; a covered lens is black, not two cuts.

In-memory frames test the decisions (exact repeats amid motion, a jump across a
still run, keyframe refreshes, covered-lens ramps); a clip encoded here with x264
at a low bitrate tests the codec's own repeats (a still scene decodes to identical
frames); the independent renderer's clips (``../shared/devset``) and real footage
(``../shared/realdata``) test generality.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from _media import ANDROIDX

from validator import requirements as req
from validator.analyze import absorb_black_edges, drop_freezes_inside_black, finish_all
from validator.detectors.base import Frame
from validator.detectors.black import BlackDetector
from validator.detectors.cuts import CutDetector
from validator.detectors.freeze import FreezeDetector
from validator.media.probe import probe
from validator.media.source import VideoSource
from validator.models import Event
from validator.policy import load_policy

POLICY = load_policy()
FPS = 30.0
MAX_BLACK_S = POLICY.completeness.max_black_s


# --- scenes ------------------------------------------------------------------------------


def texture(seed: int, shape=(180, 320), cell: int = 6, blur: float = 0.8) -> np.ndarray:
    """Print-like texture: random blocks, softened as a lens would."""
    rng = np.random.default_rng(seed)
    small = rng.integers(20, 236, (shape[0] // cell + 1, shape[1] // cell + 1), dtype=np.uint8)
    img = cv2.resize(small, (small.shape[1] * cell, small.shape[0] * cell), cv2.INTER_NEAREST)
    return cv2.GaussianBlur(img[: shape[0], : shape[1]], (0, 0), blur)


def handheld(base: np.ndarray, n: int, seed: int, noise: float = 2.0) -> list[np.ndarray]:
    """``n`` frames of ``base`` under a smooth random shake plus sensor noise."""
    rng = np.random.default_rng(seed)
    x = y = 0.0
    out = []
    for _ in range(n):
        x, y = 0.9 * x + rng.normal(0, 1), 0.9 * y + rng.normal(0, 1)
        m = np.float32([[1, 0, x], [0, 1, y]])
        img = cv2.warpAffine(base, m, base.shape[::-1], borderMode=cv2.BORDER_REFLECT)
        out.append(np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8))
    return out


TABLE = texture(1, cell=14, blur=1.5)
PARCEL = texture(2, (60, 80), cell=5)


def stand(xs: list[float], noise: float = 0.0, seed: int = 0) -> list[np.ndarray]:
    """A camera on a stand: a still table, the parcel at ``xs[i]`` px in frame i."""
    rng = np.random.default_rng(seed)
    out = []
    for x in xs:
        img = TABLE.copy()
        x0 = round(x)
        img[60:120, x0 : x0 + 80] = PARCEL
        if noise:
            img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
        out.append(img)
    return out


def path(*legs: tuple[float, float, int]) -> list[float]:
    """Parcel positions: legs of (from px, to px, frames), moved smoothly."""
    xs: list[float] = []
    for a, b, n in legs:
        s = (1 - np.cos(np.linspace(0, np.pi, n, endpoint=False))) / 2
        xs.extend(a + (b - a) * s)
    return xs


def frames(images, keyframes=()):
    for i, g in enumerate(images):
        yield Frame(
            index=i,
            t_s=i / FPS,
            gray=g,
            color=cv2.cvtColor(g, cv2.COLOR_GRAY2BGR),
            keyframe=i in keyframes,
        )


def run(det_cls, images, keyframes=()):
    det = det_cls(None, POLICY)
    for f in frames(images, keyframes):
        det.process(f)
    return det.finish()


def freezes(images, keyframes=()):
    return [e for e in run(FreezeDetector, images, keyframes).events if e.kind == "freeze"]


# --- (a) exact repeats amid motion -------------------------------------------------------


def test_exact_repeats_amid_handheld_motion_are_a_freeze():
    """Frame 44 shown 61 times, then the take goes on where it stopped: no jump, but a
    handheld camera never stands still for 2 s."""
    take = handheld(TABLE, 120, seed=3)
    imgs = take[:45] + [take[44]] * 60 + take[45:]
    found = freezes(imgs)
    assert len(found) == 1
    assert found[0].t_s == pytest.approx(44 / FPS, abs=1 / FPS)
    assert found[0].length_s == pytest.approx(61 / FPS, abs=2 / FPS)
    assert "repeats_amid_motion" in found[0].details["evidence"]
    assert found[0].length_s > POLICY.completeness.max_freeze_s


def test_a_handheld_take_never_freezes():
    assert freezes(handheld(TABLE, 150, seed=4)) == []


# --- a still scene is not a finding ------------------------------------------------------


def test_still_scene_with_exact_repeats_and_no_jump_is_nothing():
    """A phone on a stand, the parcel moved, left at rest for 2 s (the decoder repeats the
    picture exactly, as with skipped blocks), then moved on from where it lay."""
    xs = path((20, 120, 20), (120, 120, 60), (120, 220, 20), (220, 220, 30))
    result = run(FreezeDetector, stand(xs))
    assert result.events == []
    assert result.metrics.longest_still_s >= 1.5  # the run was seen and judged


def recoded(images: list[np.ndarray], keys: tuple[int, ...], levels: int, seed: int):
    """Each keyframe codes the picture with its own blocky error (+-``levels``), which the
    frames up to the next keyframe repeat, as a low-bitrate encoder's skipped blocks do."""
    rng = np.random.default_rng(seed)
    out = list(images)
    for a, b in zip(keys, (*keys[1:], len(images)), strict=True):
        blocks = rng.integers(-levels, levels + 1, (23, 40)).astype(np.int16)
        err = cv2.resize(blocks, (320, 184), interpolation=cv2.INTER_NEAREST)[:180]
        for i in range(a, b):
            out[i] = np.clip(out[i].astype(np.int16) + err, 0, 255).astype(np.uint8)
    return out


def test_keyframe_refreshes_of_a_still_picture_are_not_jumps():
    """At a low bitrate every keyframe re-codes a still picture with a visible pulse all
    over the frame (x264 at CRF 35: 1-2.5 levels at 40 px); the frames after it repeat it."""
    xs = path((20, 120, 20), (120, 120, 100), (120, 220, 20), (220, 220, 10))
    keys = (30, 60, 90)
    result = run(FreezeDetector, recoded(stand(xs), keys, 3, seed=7), keys)
    assert result.events == []
    assert result.metrics.longest_still_s >= 3.0


# --- (b) a jump across the still run -----------------------------------------------------


def test_a_jump_after_a_still_run_is_a_freeze():
    """The picture stood for 2 s while the parcel went on moving: the next frame shows
    it 60 px further than the motion before and after explains."""
    xs = path((20, 100, 30)) + [100.0] * 60 + path((160, 240, 30))
    found = freezes(stand(xs))
    assert len(found) == 1
    assert found[0].t_s == pytest.approx(29 / FPS, abs=1 / FPS)
    assert found[0].length_s == pytest.approx(61 / FPS, abs=2 / FPS)
    assert found[0].details["evidence"] == ["jump"]


def test_a_jump_on_a_keyframe_stands_above_the_refreshes():
    """The same jump coded as a keyframe, in a clip whose other keyframes refresh the
    still picture: larger than the refreshes, so a freeze; the refreshes alone are not."""
    keys = (40, 70, 100)
    imgs = recoded(stand([100.0] * 100 + [220.0] * 40), keys, 2, seed=8)
    found = freezes(imgs, keyframes=keys)
    assert [round(e.t_s * FPS) for e in found] == [0]
    assert found[0].length_s == pytest.approx(100 / FPS, abs=2 / FPS)
    assert found[0].details["evidence"] == ["jump"]


def test_an_exposure_step_after_a_still_run_is_not_a_jump():
    xs = path((20, 100, 30)) + [100.0] * 60 + [100.0] * 30
    imgs = stand(xs)
    imgs[90:] = [cv2.convertScaleAbs(g, alpha=0.8, beta=10) for g in imgs[90:]]
    assert freezes(imgs) == []


# --- a phone on a stand at a low bitrate (real codec) -------------------------------------


def encode(path_: Path, images: list[np.ndarray], crf: int) -> None:
    """H.264 as a phone would write it, keyframes every 2 s; gray pictures as luma."""
    with av.open(str(path_), "w") as out:
        vs = out.add_stream("libx264", rate=int(FPS))
        vs.options = {"preset": "veryfast", "crf": str(crf), "x264-params": "keyint=60:bframes=0"}
        vs.height, vs.width = images[0].shape
        vs.pix_fmt = "yuv420p"
        for i, g in enumerate(images):
            f = av.VideoFrame.from_ndarray(cv2.cvtColor(g, cv2.COLOR_GRAY2RGB), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, int(FPS))
            out.mux(vs.encode(f))
        out.mux(vs.encode())


def decoded_freezes(path_: Path):
    media = probe(path_, POLICY)
    det = FreezeDetector(media, POLICY)
    with VideoSource(path_, stream_index=media.video_stream_index, skip_loop_filter=True) as s:
        for f in s:
            det.process(f)
    return det.finish()


def stand_take() -> list[float]:
    """Parcel positions at 320 px: holds of 2 s and moves of 0.6 s, 9 s in all."""
    return path(
        (20, 20, 60),
        (20, 120, 18),
        (120, 120, 60),
        (120, 220, 18),
        (220, 220, 60),
        (220, 120, 18),
        (120, 120, 36),
    )


def upscale(images: list[np.ndarray], noise: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for g in images:
        big = cv2.resize(g, (640, 360), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        out.append(np.clip(big + rng.normal(0, noise, big.shape), 0, 255).astype(np.uint8))
    return out


@pytest.mark.parametrize("crf", [23, 35])
def test_low_bitrate_stand_clip_repeats_frames_but_has_no_freeze(tmp_path, crf):
    clip = tmp_path / "stand.mp4"
    encode(clip, upscale(stand(stand_take()), noise=2.0, seed=crf), crf)
    result = decoded_freezes(clip)
    assert result.events == []
    # x264 coded the holds as skipped blocks: the decoder repeated the picture for >1 s
    assert result.metrics.longest_still_s > POLICY.completeness.max_freeze_s


def test_low_bitrate_freeze_pad_with_a_jump_is_found(tmp_path):
    """2 s replaced by the picture at 3.33 s, which the hold before already showed (from
    2.6 s): the picture stood from its first showing until the jump at 5.33 s."""
    xs = stand_take()
    xs = xs[:100] + [xs[100]] * 60 + xs[160:]  # the parcel then lies 100 px on
    clip = tmp_path / "pad.mp4"
    encode(clip, upscale(stand(xs), noise=2.0, seed=5), 35)
    found = decoded_freezes(clip).events
    assert len(found) == 1
    assert 78 / FPS - 0.1 <= found[0].t_s <= 100 / FPS
    assert found[0].t_s + found[0].length_s == pytest.approx(160 / FPS, abs=2 / FPS)


# --- black, and the cuts at its edges ----------------------------------------------------


def covered_lens(lens_frames: int, ramp: int = 8, seed: int = 9) -> tuple[list, int, int]:
    """A handheld take, a hand over the lens (dimming over ``ramp`` frames, flat dark for
    ``lens_frames``, brightening again), the take again. Returns frames, first and last
    fully covered frame."""
    rng = np.random.default_rng(seed)
    before = handheld(TABLE, 60, seed=seed)
    after = handheld(TABLE, 60, seed=seed + 1)
    hand = np.full(TABLE.shape, 20.0, np.float32)
    imgs = list(before)
    for j in range(1, ramp + 1):
        a = j / (ramp + 1)
        imgs.append((before[-1] * (1 - a) + hand * a).astype(np.uint8))
    first = len(imgs)
    for _ in range(lens_frames):
        imgs.append(np.clip(hand + rng.normal(0, 1, hand.shape), 0, 255).astype(np.uint8))
    last = len(imgs) - 1
    for j in range(ramp, 0, -1):
        a = j / (ramp + 1)
        imgs.append((after[0] * (1 - a) + hand * a).astype(np.uint8))
    return imgs + after, first, last


def continuity(images) -> list[Event]:
    """The events of the cut, black and freeze detectors after the report's own
    post-processing."""
    dets = [CutDetector(None, POLICY), BlackDetector(None, POLICY), FreezeDetector(None, POLICY)]
    for f in frames(images):
        for d in dets:
            d.process(f)
    events = [e for fd in finish_all(dets).values() for e in fd.events]
    return absorb_black_edges(drop_freezes_inside_black(events), MAX_BLACK_S)


def test_black_run_knows_its_ramps():
    imgs, first, last = covered_lens(60)
    black = run(BlackDetector, imgs).events
    assert len(black) == 1
    b = black[0]
    assert b.t_s == pytest.approx(first / FPS, abs=1 / FPS)
    assert b.length_s == pytest.approx((last - first + 1) / FPS, abs=2 / FPS)
    assert b.details["ramp_start_s"] == pytest.approx((first - 8) / FPS, abs=1.5 / FPS)
    assert b.details["ramp_end_s"] == pytest.approx((last + 8) / FPS, abs=1.5 / FPS)


def test_covered_lens_is_black_for_review_not_cuts():
    imgs, _, _ = covered_lens(60)
    events = continuity(imgs)
    assert [e.kind for e in events if e.kind != "black"] == []
    comp = req.completeness(20.0, events, POLICY)
    codes = {r.code for r in comp.reasons}
    assert comp.verdict == "review" and "black_segment" in codes, codes


def test_cuts_on_a_long_black_runs_ramps_are_absorbed():
    black = Event("black", 2.0, length_s=2.0, details={"ramp_start_s": 1.733, "ramp_end_s": 4.267})
    edges = [Event("cut", 1.8), Event("possible_cut", 4.3)]
    elsewhere = [Event("cut", 1.5), Event("cut", 4.5)]
    out = absorb_black_edges([black, *edges, *elsewhere], MAX_BLACK_S)
    assert [e.kind for e in out] == ["black", "cut", "cut"]
    assert [e.t_s for e in out if e.kind == "cut"] == [1.5, 4.5]
    assert out[0].details["absorbed"] == [
        {"kind": "cut", "t_s": 1.8},
        {"kind": "possible_cut", "t_s": 4.3},
    ]


def test_a_short_fade_through_black_keeps_its_cut():
    """2-30 frames of black between two different pictures is an editing transition."""
    fade = Event("black", 5.0, length_s=0.3, details={"ramp_start_s": 4.8, "ramp_end_s": 5.5})
    cut = Event("cut", 5.3)
    assert absorb_black_edges([fade, cut], MAX_BLACK_S) == [fade, cut]


def test_fade_through_black_between_two_takes_is_not_absorbed():
    """End to end: take A fades to black over 5 frames, 6 black frames, take B fades in.
    Whatever the cut detector finds there stays, and the black run is short."""
    a = handheld(TABLE, 60, seed=11)
    b = handheld(texture(12, cell=9), 60, seed=12)
    dark = np.full(TABLE.shape, 16, np.uint8)
    ramp_out = [(a[-1] * (1 - j / 6) + dark * (j / 6)).astype(np.uint8) for j in range(1, 6)]
    ramp_in = [(b[0] * (j / 6) + dark * (1 - j / 6)).astype(np.uint8) for j in range(1, 6)]
    imgs = a + ramp_out + [dark] * 6 + ramp_in + b
    dets = [CutDetector(None, POLICY), BlackDetector(None, POLICY)]
    for f in frames(imgs):
        for d in dets:
            d.process(f)
    raw = [e for fd in finish_all(dets).values() for e in fd.events]
    black = [e for e in raw if e.kind == "black"]
    assert black and black[0].length_s < MAX_BLACK_S
    kept = absorb_black_edges(raw, MAX_BLACK_S)
    assert [e for e in raw if e.kind != "black"] == [e for e in kept if e.kind != "black"]


# --- the independent renderer and real footage -------------------------------------------


@pytest.mark.parametrize("name", ["d02_phone_on_stand", "d04_still_after_opening"])
def test_devset_still_takes_have_no_freeze(devset, name):
    result = decoded_freezes(devset / f"{name}.mp4")
    assert result.events == []
    assert result.metrics.still_runs > 0  # still stretches were there to judge


def test_devset_freeze_pad_is_found(devset):
    found = decoded_freezes(devset / "d06_freeze_padding.mp4").events
    assert len(found) == 1
    assert found[0].t_s == pytest.approx(15.0, abs=0.5)
    assert found[0].length_s == pytest.approx(2.0, abs=0.5)


@pytest.mark.parametrize(
    "rel",
    [
        "opencv-doc/box.mp4",
        f"{ANDROIDX}/edit_list_positive_shift.mp4",  # 9 s of one unchanging picture
        f"{ANDROIDX}/silent-black-10s.mp4",
        f"{ANDROIDX}/h265_bframes.mp4",
        f"{ANDROIDX}/pixel-motion-photo-2-hevc-tracks.mp4",
        f"{ANDROIDX}/sample_sef_super_slow_motion.mp4",
        "metadata-extractor-images/mp4/sample_mpeg4.mp4",  # a still logo, then keyframes
    ],
)
def test_real_clips_have_no_freeze(realdata, rel):
    assert decoded_freezes(realdata / rel).events == []
