"""The edit makers of benchmarks/edits.py against the truth they claim, on tiny synthetic clips.

A source frame shows its index in binary (eight vertical stripes, dark for 0, bright for 1,
which an export at CRF 20 keeps), so each output frame says which source frame it shows; a
smooth random texture checks the blending itself.
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_edits
import edits

W, H, FPS, N = 64, 48, 30, 60
SIZE = (W, H)


DARK, BRIGHT, BITS = 30, 220, 8


def _coded(i: int) -> np.ndarray:
    bits = [(i >> b) & 1 for b in range(BITS)]
    row = np.repeat([BRIGHT if v else DARK for v in bits], W // BITS).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], H, 0), 3, 2)


def _stripes(img: np.ndarray) -> np.ndarray:
    return img.reshape(H, BITS, W // BITS, 3).mean(axis=(0, 2, 3))


def _index(img: np.ndarray) -> int:
    return sum(1 << b for b, v in enumerate(_stripes(img)) if v > (DARK + BRIGHT) / 2)


def _decode(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in frames], [f.pts for f in frames]


def _source(path: Path, pictures: list[np.ndarray]) -> edits.Source:
    edits.encode(pictures, path, FPS, crf=0)  # lossless: the source is what the test says
    return edits.probe_source(path)


@pytest.fixture(scope="module")
def coded(tmp_path_factory) -> edits.Source:
    d = tmp_path_factory.mktemp("coded")
    return _source(d / "coded.mp4", [_coded(i) for i in range(N)])


@pytest.fixture(scope="module")
def texture(tmp_path_factory) -> edits.Source:
    rng = np.random.default_rng(3)
    pics = [
        cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (0, 0), 2)
        for _ in range(N)
    ]
    return _source(tmp_path_factory.mktemp("tex") / "tex.mp4", pics)


def _render(plan: edits.Plan, src: edits.Source) -> list[np.ndarray]:
    lanes = {k: src for k in {r.lane for r in _picks(plan)}}
    return [f.copy() for f in edits.render(plan, lanes, SIZE)]


def _picks(plan: edits.Plan) -> list[edits.Pick]:
    out: list[edits.Pick] = []
    for r in plan.recipes:
        if isinstance(r, edits.Pick):
            out.append(r)
        elif isinstance(r, edits.Mix):
            out += [r.a, r.b]
        else:
            out.append(r.a)
    return out


def test_source_is_counted_and_read_frame_exact(coded):
    assert (coded.frames, coded.fps, coded.width, coded.height) == (N, FPS, W, H)
    got = _render(edits.reencode(N), coded)
    assert [_index(f) for f in got] == list(range(N))


def test_removed_segment_is_gone_and_timestamps_stay_regular(coded, tmp_path):
    at, k = 20, 10
    plan = edits.remove(N, at, k)
    out = tmp_path / "removed.mp4"
    n = edits.encode(edits.render(plan, {"a": coded}, SIZE), out, FPS)
    frames, pts = _decode(out)
    assert n == len(frames) == N - k
    assert [_index(f) for f in frames] == [*range(at), *range(at + k, N)]
    steps = np.diff(sorted(pts))
    assert len(set(steps.tolist())) == 1  # one frame duration: no gap where the cut is
    (truth,) = [e.truth(FPS) for e in plan.edits]
    assert truth["kind"] == "cut" and truth["t_s"] == pytest.approx(at / FPS, abs=1e-3)
    assert truth["hidden_s"] == pytest.approx(k / FPS, abs=1e-3)


def test_dissolve_frames_average_both_sides(texture, coded, tmp_path):
    at, skip, k = 20, 20, 3
    plan = edits.dissolve(N, at, skip, k)
    src, _ = _decode(texture.path)
    got = _render(plan, texture)
    mid = got[at + 1]  # w = 2/4: the plain average of frames at+1 and at+skip+1
    want = (src[at + 1].astype(float) + src[at + skip + 1]) / 2
    assert np.abs(mid - want).max() <= 0.5 + 1e-9
    assert np.array_equal(got[at - 1], src[at - 1])
    assert np.array_equal(got[at + k], src[at + skip + k])  # runs on after the jump
    assert len(got) == N - skip
    # Exported (CRF 20), the middle frame still sits halfway between the two sources.
    out = tmp_path / "dissolve.mp4"
    edits.encode(edits.render(plan, {"a": coded, "a2": coded}, SIZE), out, FPS)
    frames, _ = _decode(out)
    want = (_stripes(_coded(at + 1)) + _stripes(_coded(at + skip + 1))) / 2
    assert _stripes(frames[at + 1]) == pytest.approx(want, abs=3)
    (truth,) = [e.truth(FPS) for e in plan.edits]
    assert truth["kind"] == "dissolve"
    assert (truth["t_s"], truth["length_s"]) == pytest.approx((at / FPS, k / FPS), abs=1e-3)


def test_freeze_pad_repeats_one_frame_exactly(texture):
    at, k = 20, 15
    src, _ = _decode(texture.path)
    for hide, resume in ((False, at + 1), (True, at + 1 + k)):
        plan = edits.freeze(N, at, k, hide=hide)
        got = _render(plan, texture)
        run = got[at : at + k + 1]
        assert all(np.array_equal(f, src[at]) for f in run)
        assert np.array_equal(got[at + k + 1], src[resume])
        assert len(got) == N + (0 if hide else k)
        (e,) = plan.edits
        assert (e.kind, e.start, e.length) == ("freeze", at, k + 1)


def test_fade_goes_through_black(coded):
    at, skip, k = 15, 20, 6
    plan = edits.fade_black(N, at, skip, k)
    got = _render(plan, coded)
    shown = [*range(at, at + k), *range(at + skip, at + skip + k)]  # source frame under each
    gains = [float(got[at + j].mean()) / float(_coded(i).mean()) for j, i in enumerate(shown)]
    assert gains[k - 1] == gains[k] == 0  # the last frame out and the first in are black
    assert all(a > b for a, b in pairwise(gains[:k]))  # out: darker
    assert all(a < b for a, b in pairwise(gains[k:]))  # in: lighter
    assert _index(got[at + 2 * k]) == at + skip + k  # full picture again, after the jump
    (e,) = plan.edits
    assert (e.kind, e.start, e.length) == ("fade", at, 2 * k)


def test_splice_of_another_take_is_fitted_to_the_output(coded, texture):
    plan = edits.splice(N, 30, N, 5, 20)
    got = [f.copy() for f in edits.render(plan, {"a": coded, "b": texture}, SIZE)]
    assert len(got) == 50 and all(f.shape == (H, W, 3) for f in got)
    assert [_index(f) for f in got[:30]] == list(range(30))
    assert len(np.unique(got[30])) > 20  # the texture, not the striped take


def test_edit_that_does_not_fit_is_refused():
    with pytest.raises(ValueError):
        edits.remove(N, 55, 10)
    with pytest.raises(ValueError):
        edits.dissolve(N, 40, 20, 3)


def test_scoring_windows():
    truth = [
        {"kind": "cut", "t_s": 5.0, "length_s": 0.0},
        {"kind": "dissolve", "t_s": 10.0, "length_s": 1.0},
        {"kind": "freeze", "t_s": 15.0, "length_s": 2.0},
    ]
    events = [
        {"kind": "cut", "t_s": 5.4, "length_s": 0.0},  # on the cut
        {"kind": "possible_cut", "t_s": 11.4, "length_s": 0.0},  # within the dissolve +0.5 s
        {"kind": "cut", "t_s": 14.5, "length_s": 0.0},  # before the freeze: a false alarm
        {"kind": "black", "t_s": 16.0, "length_s": 0.5},  # a kind not scored
    ]
    s = bench_edits.score(truth, events, bench_edits.OUR_KINDS)
    assert s.found == [0, 1]
    assert [e["t_s"] for e in s.false] == [14.5]
    assert bench_edits.score(truth, events, bench_edits.STRICT_KINDS).found == [0]


def test_jump_ratio_sees_a_removal_in_a_pan_and_nothing_where_there_is_none(tmp_path):
    rng = np.random.default_rng(5)
    wide = cv2.GaussianBlur(rng.integers(0, 256, (H, W * 4), dtype=np.uint8), (0, 0), 2)
    pan = [np.repeat(wide[:, i : i + W, None], 3, 2) for i in range(N)]  # 1 px a frame
    src = _source(tmp_path / "pan.mp4", pan)
    at, k = 30, 20
    cut = tmp_path / "cut.mp4"
    edits.encode(edits.render(edits.remove(N, at, k), {"a": src}, SIZE), cut, FPS)
    mark = {"kind": "cut", "t_s": at / FPS, "length_s": 0.0}
    (jump,) = edits.jump_ratios(cut, [mark], FPS)
    (none,) = edits.jump_ratios(src.path, [mark], FPS)  # the same moment, unedited
    assert jump is not None and none is not None
    assert jump > 3 * none and none < 1.5
