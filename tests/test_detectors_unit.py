"""Detectors on in-memory frames: relations and ground truth, no video files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validator.analyze import finish_all
from validator.detectors.base import Detector, Findings, Frame
from validator.detectors.black import BlackDetector
from validator.detectors.cuts import CutDetector
from validator.detectors.freeze import FreezeDetector
from validator.detectors.quality import QualityDetector, edge_spread
from validator.policy import load_policy

POLICY = load_policy()
FPS = 30.0


def textured(seed: int, shape=(180, 320), cell: int = 6) -> np.ndarray:
    """A print-like texture: random blocks with sharp edges."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // cell, shape[1] // cell), dtype=np.uint8)
    return cv2.resize(small, shape[::-1], interpolation=cv2.INTER_NEAREST)


def frames(images, fps: float = FPS):
    for i, g in enumerate(images):
        yield Frame(index=i, t_s=i / fps, gray=g, color=cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))


def run(det_cls, images, fps: float = FPS):
    det = det_cls(None, POLICY)
    for f in frames(images, fps):
        det.process(f)
    return det.finish()


def handheld(base: np.ndarray, n: int, seed: int, noise: float = 2.0, speed: float = 1.0):
    """``n`` frames of ``base`` under a smooth random shake plus sensor noise."""
    rng = np.random.default_rng(seed)
    x = y = 0.0
    out = []
    for _ in range(n):
        x = 0.9 * x + rng.normal(0, speed)
        y = 0.9 * y + rng.normal(0, speed)
        m = np.float32([[1, 0, x], [0, 1, y]])
        img = cv2.warpAffine(base, m, base.shape[::-1], borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
        out.append(img)
    return out


# --- focus (edge spread) -----------------------------------------------------------------


def label_scene(seed: int, shape=(180, 320), label=(70, 110), table: int = 150) -> np.ndarray:
    """A plain table (sensor noise only) with a small printed label: dark blocks of print,
    a frame line, on a light card. Sharp: every edge a one-pixel step."""
    rng = np.random.default_rng(seed)
    img = np.full(shape, table, np.float32)
    y0, x0 = (shape[0] - label[0]) // 2, (shape[1] - label[1]) // 2
    img[y0 : y0 + label[0], x0 : x0 + label[1]] = 225
    for _ in range(10):  # blocks of print 6-20 px, well apart
        h, w = rng.integers(6, 14), rng.integers(8, 22)
        y, x = y0 + rng.integers(4, label[0] - h - 4), x0 + rng.integers(4, label[1] - w - 4)
        img[y : y + h, x : x + w] = 40
    img += rng.normal(0, 1.0, shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def blurred(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma) if sigma else img


LIMIT_PX = POLICY.validity.max_blur_pct / 100 * 320  # the policy's threshold at 320 px


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_more_blur_gives_a_larger_spread(seed):
    img = label_scene(seed)
    sigmas = (0, 0.75, 1.0, 1.5, 2.0, 3.0)
    values = [edge_spread(blurred(img, s)) for s in sigmas]
    assert None not in values, values
    assert values == sorted(values), values
    # Around the threshold the measure is the Gaussian blur it was given (it reads more
    # beyond 2.5 px, where the step no longer fits its window: still blurred).
    for s, v in zip(sigmas[1:5], values[1:5], strict=True):
        assert v == pytest.approx(s, abs=0.15), (s, v)


@pytest.mark.parametrize("seed", [4, 5])
def test_a_sharp_label_on_a_large_plain_surface_is_known_and_sharp(seed):
    # the label covers 13% of the frame; the rest is a plain table with sensor noise
    spread = edge_spread(label_scene(seed))
    assert spread is not None
    assert spread < 0.6 * LIMIT_PX
    assert edge_spread(blurred(label_scene(seed), 2.5)) > LIMIT_PX


def test_a_frame_without_edges_is_unknown_not_blurred():
    rng = np.random.default_rng(0)
    flat = np.full((180, 320), 128, np.uint8)
    noise = np.clip(128 + rng.normal(0, 2.0, flat.shape), 0, 255).astype(np.uint8)
    ramp = np.tile(np.linspace(60, 200, 320, dtype=np.float32), (180, 1)).astype(np.uint8)
    for img in (flat, noise, ramp, np.zeros_like(flat)):
        assert edge_spread(img) is None


@pytest.mark.parametrize("sigma", [0, 1.5, 2.5])
def test_spread_does_not_depend_on_contrast(sigma):
    img = blurred(label_scene(6), sigma)
    for alpha, beta in ((0.35, 60), (0.6, 10), (1.0, 0)):
        low = cv2.convertScaleAbs(img, alpha=alpha, beta=beta)
        assert edge_spread(low) == pytest.approx(edge_spread(img), abs=0.15), (alpha, beta)


def test_spread_does_not_depend_on_how_much_of_the_frame_is_plain():
    small = edge_spread(label_scene(7, label=(50, 80)))
    large = edge_spread(label_scene(7, label=(150, 280)))
    assert small == pytest.approx(large, abs=0.2)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.5, 3.0), st.floats(1.3, 2.5))
def test_blurring_further_never_sharpens(sigma, factor):
    img = label_scene(9)
    a = edge_spread(blurred(img, sigma))
    b = edge_spread(blurred(img, sigma * factor))
    assert b >= a - 0.05


def test_quality_profile_per_second():
    imgs = handheld(label_scene(5), 90, seed=5)  # 3 s
    m = run(QualityDetector, imgs).metrics
    assert m.seconds == 3
    assert [s["t_s"] for s in m.profile] == [0, 1, 2]
    assert all(s["blur_pct"] < POLICY.validity.max_blur_pct for s in m.profile)
    dark = run(QualityDetector, [cv2.convertScaleAbs(i, alpha=0.1) for i in imgs]).metrics
    assert dark.median_luma < m.median_luma / 5
    plain = run(QualityDetector, [np.full((180, 320), 120, np.uint8)] * 60).metrics
    assert [s["blur_pct"] for s in plain.profile] == [None, None]
    assert plain.seconds_focus_known == 0


# --- black and freeze --------------------------------------------------------------------


def test_black_span_found_within_a_frame():
    imgs = handheld(textured(6), 150, seed=6)
    rng = np.random.default_rng(0)
    for i in range(60, 105):  # 1.5 s covered
        imgs[i] = np.clip(12 + rng.normal(0, 2, imgs[i].shape), 0, 255).astype(np.uint8)
    ev = run(BlackDetector, imgs).events
    assert len(ev) == 1
    assert ev[0].t_s == pytest.approx(2.0, abs=1 / FPS)
    assert ev[0].length_s == pytest.approx(1.5, abs=2 / FPS)


def test_dark_textured_scene_is_not_black():
    imgs = [cv2.convertScaleAbs(i, alpha=0.15) for i in handheld(textured(7), 60, seed=7)]
    assert run(BlackDetector, imgs).events == []


def test_freeze_found_and_handheld_never_freezes():
    imgs = handheld(textured(8), 150, seed=8)
    assert run(FreezeDetector, imgs).events == []
    for i in range(45, 105):  # frame 44 repeated for 2 s
        imgs[i] = imgs[44]
    ev = run(FreezeDetector, imgs).events
    assert len(ev) == 1
    assert ev[0].t_s == pytest.approx(44 / FPS, abs=1 / FPS)
    assert ev[0].length_s == pytest.approx(61 / FPS, abs=2 / FPS)


# --- cuts ------------------------------------------------------------------------------


def scene_with_parcel(parcel: np.ndarray, table: np.ndarray, pos=(96, 42)) -> np.ndarray:
    img = table.copy()
    x, y = pos
    h, w = parcel.shape
    img[y : y + h, x : x + w] = parcel
    return img


def test_spliced_take_is_a_cut():
    a = handheld(textured(10), 60, seed=10)
    b = handheld(textured(11), 60, seed=11)
    ev = run(CutDetector, a + b).events
    assert [(e.kind, round(e.t_s * FPS)) for e in ev] == [("cut", 60)]


def test_parcel_jump_with_static_background_is_a_cut():
    """A removed segment: only the parcel (a fifth of the frame) changes pose."""
    table = textured(12, cell=12)  # wood grain and table clutter, coarser than print
    p1 = cv2.resize(textured(13, (40, 60)), (128, 96), interpolation=cv2.INTER_NEAREST)
    p2 = cv2.resize(textured(14, (40, 60)), (128, 96), interpolation=cv2.INTER_NEAREST)
    rng = np.random.default_rng(1)
    imgs = []
    for i in range(120):
        base = scene_with_parcel(p1 if i < 60 else p2, table)
        n = rng.normal(0, 2, base.shape)
        imgs.append(np.clip(base + n, 0, 255).astype(np.uint8))
    # shake the whole scene like a hand would
    shaken = []
    x = y = 0.0
    for img in imgs:
        x, y = 0.9 * x + rng.normal(0, 1), 0.9 * y + rng.normal(0, 1)
        m = np.float32([[1, 0, x], [0, 1, y]])
        moved = cv2.warpAffine(img, m, img.shape[::-1], borderMode=cv2.BORDER_REFLECT)
        shaken.append(cv2.GaussianBlur(moved, (0, 0), 1.0))  # a lens never resolves a pixel edge
    ev = run(CutDetector, shaken).events
    assert [(e.kind, round(e.t_s * FPS)) for e in ev] == [("cut", 60)]


def test_two_frames_of_another_take_are_found():
    """Two cuts two pairs apart (in and out of a 2-frame insert) must not hide each other."""
    a = handheld(textured(10), 60, seed=10)
    b = handheld(textured(11), 2, seed=11)
    c = handheld(textured(10), 60, seed=12)
    ev = run(CutDetector, a + b + c).events
    assert [(e.kind, round(e.t_s * FPS)) for e in ev] == [("cut", 60)]  # one event: 0.5 s


def test_fast_pan_is_not_a_cut():
    big = cv2.resize(textured(15, (360, 960)), (960, 360), interpolation=cv2.INTER_NEAREST)
    imgs = []
    for i in range(90):
        # accelerate to 16 px a frame and back: a fast handheld sweep
        x = int(300 + 250 * np.sin(np.pi * i / 90) * np.sign(np.cos(np.pi * i / 90)) + 4 * i)
        imgs.append(big[90 : 90 + 180, x : x + 320].copy())
    assert run(CutDetector, imgs).events == []


def test_motion_estimate_leaves_frames_untouched_and_finds_the_shift():
    from validator.detectors.motion import MotionEstimator, small

    base = cv2.GaussianBlur(textured(21, cell=12), (0, 0), 1.5)
    a = small(base)
    b = small(np.roll(base, (4, -6), axis=(0, 1)))  # 2 px down, 3 px left at 160 px
    a0, b0 = a.copy(), b.copy()
    dx, dy, _ = MotionEstimator().shift(a, b)
    assert np.array_equal(a, a0) and np.array_equal(b, b0)
    assert (dx, dy) == pytest.approx((-3, 2), abs=0.3)


# --- detectors that use others' findings ------------------------------------------------


class _Stub(Detector):
    def __init__(self, name: str, uses: tuple[str, ...] = ()) -> None:
        super().__init__(None, POLICY)  # type: ignore[arg-type]
        self.name, self.uses = name, uses  # type: ignore[misc]
        self.got: dict | None = None

    def finish(self, upstream=None) -> Findings:
        self.got = None if upstream is None else dict(upstream)
        return Findings(metrics={"from": self.name})


def test_a_detector_finishes_after_the_ones_it_uses_and_gets_their_findings():
    a, b, c = _Stub("a", uses=("b", "missing")), _Stub("b"), _Stub("c")
    found = finish_all([a, b, c])
    assert list(found) == ["a", "b", "c"]  # the caller's order
    assert a.got == {"b": found["b"]}  # a missing detector is left out, not an error
    assert b.got is None and c.got is None


def test_detectors_that_use_each_other_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        finish_all([_Stub("a", uses=("b",)), _Stub("b", uses=("a",))])
