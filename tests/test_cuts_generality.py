"""Cuts and transitions judged against the picture, on footage this project did not make.

Edits are cut into real webcam footage (``../shared/realdata/opencv-doc/box.mp4``) the way
an editing app exports them: decode, drop or join frames, blend a dissolve or a fade in
8-bit RGB, re-encode H.264 at CRF 20 on a regular frame grid (no timestamp gap is left).
Camera events that are not edits (exposure steps and ramps, a focus pull, a zoom, a hand
passing the lens, a watermark app's clock) are made the same way and must give no
continuity event; a zoom step within one frame (a zoom button, another lens) is a
``zoom_step``, a review, and an edit behind one is still a cut. Synthetic
scenes put a parcel of 3% to 80% of the frame on a table, on a stand and in a hand: a
removed segment is a cut whatever the parcel's size, its continuous motion never is.
Every clip is made in a temporary folder and checked with ``check()`` (only the cut
detector runs, on the frames ``check()`` decodes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from validator import check
from validator.detectors.base import Frame
from validator.detectors.cuts import ZOOM_BETTER, CutDetector, best_zoom
from validator.detectors.motion import MotionEstimator
from validator.policy import load_policy

FPS = 30
CRF = 20  # an editing app's "high quality" export
TOL_S = 2 / FPS  # a hard cut is found on its frame (one frame either way)
CONTINUITY = {"cut", "possible_cut", "zoom_step"}

# --- clips -------------------------------------------------------------------------------


def decode(path: Path, start_s: float, stop_s: float, width: int = 320) -> list[np.ndarray]:
    """RGB frames of ``path`` between two times, scaled to ``width`` (small: fast tests)."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            t = float(f.time or 0.0)
            if start_s <= t < stop_s:
                img = f.to_ndarray(format="rgb24")
                h = round(img.shape[0] * width / img.shape[1] / 2) * 2
                out.append(cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA))
    return out


def encode(frames: Iterable[np.ndarray], path: Path) -> Path:
    """H.264 at CRF 20 on a regular 30 fps grid, as an editing app exports."""
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.pix_fmt = "yuv420p"
        st.options = {"crf": str(CRF), "preset": "veryfast"}
        st.codec_context.time_base = Fraction(1, FPS)
        for i, img in enumerate(frames):
            if i == 0:
                st.height, st.width = img.shape[:2]
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts = i
            out.mux(st.encode(vf))
        out.mux(st.encode())
    return path


def events(path: Path) -> list[dict]:
    """The continuity events ``check()`` reports for ``path`` (cut detector only)."""
    report = check(path, detectors=["cuts"])
    return [e for e in report.events if e["kind"] in CONTINUITY]


def mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return np.clip(np.rint((1 - w) * a.astype(np.float32) + w * b), 0, 255).astype(np.uint8)


def gain(img: np.ndarray, g: float) -> np.ndarray:
    return np.clip(np.rint(img.astype(np.float32) * g), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def box(realdata: Path) -> list[np.ndarray]:
    """8 s of the real webcam clip: a hand turns a printed box over a desk; continuous."""
    return decode(realdata / "opencv-doc" / "box.mp4", 2.0, 10.0)


def cut_at(evs: list[dict], t_s: float, tol: float = TOL_S) -> list[dict]:
    return [e for e in evs if e["kind"] == "cut" and abs(e["t_s"] - t_s) <= tol]


# --- edits in real footage ---------------------------------------------------------------


def test_a_plain_reencode_has_no_cut(box, tmp_path):
    assert events(encode(box, tmp_path / "reencode.mp4")) == []


@pytest.mark.parametrize(("at", "removed"), [(60, 15), (100, 30), (80, 90)])
def test_a_removed_segment_is_a_cut(box, tmp_path, at, removed):
    """0.5 s, 1 s and 3 s taken out of a continuous take, the rest closed up."""
    clip = box[:at] + box[at + removed :]
    evs = events(encode(clip, tmp_path / "removed.mp4"))
    assert cut_at(evs, at / FPS), evs
    assert len(evs) == 1, evs


def test_a_retake_of_the_same_scene_is_a_cut(box, tmp_path):
    """The take jumps back 2 s: same desk, same light, the box where it was before."""
    clip = box[:150] + box[90:]
    evs = events(encode(clip, tmp_path / "retake.mp4"))
    assert cut_at(evs, 150 / FPS) and len(evs) == 1, evs


@pytest.mark.parametrize("frames", [3, 10])
def test_a_cross_dissolve_is_a_cut_with_its_transition(box, tmp_path, frames):
    """A dissolve of ``frames`` mixed frames across a 2 s jump, both sides running on.

    The jump takes the box from one place to another (its two ends differ by 28 gray
    levels on average; where it barely moves, the 2 s are not visible to anyone)."""
    at, jump = 40, 60
    mixed = [mix(box[at + j], box[at + jump + j], (j + 1) / (frames + 1)) for j in range(frames)]
    clip = box[:at] + mixed + box[at + jump + frames :]
    evs = events(encode(clip, tmp_path / "dissolve.mp4"))
    middle = (at + (frames - 1) / 2) / FPS
    found = cut_at(evs, middle, tol=frames / 2 / FPS + TOL_S)
    assert found and len(evs) == 1, evs
    assert found[0]["details"]["transition"] == "dissolve"
    assert abs(found[0]["details"]["frames"] - frames) <= max(2, frames // 3)


def test_a_fade_through_black_is_a_cut_with_its_transition(box, tmp_path):
    at, jump, n = 80, 60, 10
    out = [gain(box[at + j], 1 - (j + 1) / n) for j in range(n)]
    inn = [gain(box[at + jump + j], j / n) for j in range(n)]
    clip = box[:at] + out + inn + box[at + jump + n :]
    evs = events(encode(clip, tmp_path / "fade.mp4"))
    found = cut_at(evs, (at + n) / FPS, tol=n / FPS)
    assert found and len(evs) == 1, evs
    assert found[0]["details"]["transition"] == "fade"


# --- what a camera does by itself --------------------------------------------------------


def exposure_step(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Auto exposure jumps down a stop's third in one frame (as box.mp4 does at 12.1 s)."""
    return frames[:100] + [gain(f, 0.8) for f in frames[100:]]


def exposure_ramp(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Auto exposure settles over 10 frames to 60% of the light."""
    g = [1.0] * 100 + list(np.linspace(1.0, 0.6, 10)) + [0.6] * (len(frames) - 110)
    return [gain(f, x) for f, x in zip(frames, g, strict=True)]


def white_balance_ramp(frames: list[np.ndarray]) -> list[np.ndarray]:
    """White balance drifts warmer over 15 frames."""
    out = []
    for i, f in enumerate(frames):
        w = min(max((i - 100) / 15, 0.0), 1.0)
        k = np.array([1 + 0.12 * w, 1.0, 1 - 0.12 * w], np.float32)  # R up, B down
        out.append(np.clip(f.astype(np.float32) * k, 0, 255).astype(np.uint8))
    return out


def focus_hunt(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Autofocus hunts: blurred out and back over 20 frames (sigma up to 3 px at 320 px)."""
    out = []
    for i, f in enumerate(frames):
        s = 3.0 * max(0.0, 1 - abs(i - 110) / 10)
        out.append(cv2.GaussianBlur(f, (0, 0), s) if s > 0.3 else f)
    return out


def zoom(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A zoom in to 1.4x over 20 frames (a phone's pinch or a digital zoom)."""
    out = []
    for i, f in enumerate(frames):
        z = 1 + 0.4 * min(max((i - 100) / 20, 0.0), 1.0)
        h, w = f.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 0, z)
        out.append(cv2.warpAffine(f, m, (w, h), borderMode=cv2.BORDER_REFLECT))
    return out


def scaled(f: np.ndarray, k: float, offset: float = 0.0) -> np.ndarray:
    """``f`` magnified ``k`` times about a point ``offset`` of the width right of centre."""
    h, w = f.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2 + offset * w, h / 2), 0, k)
    return cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def zoom_button(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The 2x button tapped: twice the scale from one frame to the next."""
    return frames[:100] + [scaled(f, 2.0) for f in frames[100:]]


def long_lens(frames: list[np.ndarray]) -> list[np.ndarray]:
    """From 0.5x to the 2x lens in one frame: four times the scale."""
    return frames[:100] + [scaled(f, 4.0) for f in frames[100:]]


def lens_switch(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Back from a longer lens to the main one in one frame: 0.6 times the scale, the view
    3% of the width aside (the lenses sit apart) and the exposure a tenth up."""
    return [gain(scaled(f, 1 / 0.6, 0.03), 0.9) for f in frames[:100]] + frames[100:]


def watermark_clock(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A watermark camera app's burned-in date and clock (水印相机, common for evidence in
    China), 6% of the height, ticking every second; a minute rolls over at 3 s."""
    out = []
    for i, f in enumerate(frames):
        f = f.copy()
        h = f.shape[0]
        s = 57 + i // FPS
        text, scale = f"16:{40 + s // 60:02d}:{s % 60:02d}", 0.06 * h / 22
        for colour, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(f, "2026-11-20", (8, h - 40), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.7,
                        colour, thick, cv2.LINE_AA)  # fmt: skip
            cv2.putText(f, text, (8, h - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick,
                        cv2.LINE_AA)  # fmt: skip
        out.append(f)
    return out


def hand_over_lens(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A hand sweeps across close to the lens in 6 frames: dark, blurred, skin-toned."""
    out = []
    for i, f in enumerate(frames):
        j = i - 100
        if 0 <= j < 6:
            h, w = f.shape[:2]
            mask = np.zeros((h, w), np.float32)
            cx = int((j - 1) * w / 3)
            cv2.ellipse(mask, (cx, h // 2), (w // 3, h), 0, 0, 360, 1.0, -1)
            mask = cv2.GaussianBlur(mask, (0, 0), w / 20)[..., None]
            skin = np.array([90, 60, 50], np.float32)
            f = (f * (1 - mask) + skin * mask).astype(np.uint8)
        out.append(f)
    return out


def mains_flicker(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Lamps on 50 Hz mains under a rolling shutter: bands of +-5 % brightness rolling a
    third of their spacing down the picture each frame (benchmarks/bench_transcodes.py)."""
    rows = np.arange(frames[0].shape[0], dtype=np.float32)[:, None, None] / frames[0].shape[0]
    out = []
    for i, f in enumerate(frames):
        g = 1.0 + 0.05 * np.sin(2 * np.pi * (100.0 * i / FPS + 2.5 * rows))
        out.append(np.clip(np.rint(f.astype(np.float32) * g), 0, 255).astype(np.uint8))
    return out


@pytest.mark.parametrize(
    "effect",
    [
        exposure_step,
        exposure_ramp,
        white_balance_ramp,
        focus_hunt,
        zoom,
        watermark_clock,
        hand_over_lens,
        mains_flicker,
    ],
    ids=lambda f: f.__name__,
)
def test_what_a_camera_does_by_itself_is_no_cut(box, tmp_path, effect):
    assert events(encode(effect(box), tmp_path / "camera.mp4")) == []


@pytest.mark.parametrize(
    ("effect", "k"),
    [
        (zoom_button, 2.0),
        (lens_switch, 0.6),
        pytest.param(
            long_lens,
            4.0,
            marks=pytest.mark.xfail(
                strict=True,
                reason="a x4 step leaves a 40 px crop at 160 px: on this 320 px clip it is "
                "not measured and stays a cut (ZOOM_RANGE's comment)",
            ),
        ),
    ],
)
def test_a_zoom_step_is_a_review_not_a_cut(box, tmp_path, effect, k):
    """A zoom button or a lens switch in one frame of the take: a ``zoom_step`` (a person
    looks), never a cut, with the step's scale."""
    evs = events(encode(effect(box), tmp_path / "zoom.mp4"))
    assert [e["kind"] for e in evs] == ["zoom_step"], evs
    assert abs(evs[0]["t_s"] - 100 / FPS) <= TOL_S, evs
    assert abs(np.log(evs[0]["details"]["scale"] / k)) <= np.log(1.05), evs


@pytest.mark.parametrize("k", [1.5, 0.6])
def test_a_removed_segment_behind_a_zoom_step_is_a_cut(box, tmp_path, k):
    """A zoom step explains a spike only where the scaled picture is the one before:
    1 s taken out where the scale also changes is still a cut."""
    at = 100
    clip = box[:at] + [scaled(f, k) for f in box[at + 30 :]]
    evs = events(encode(clip, tmp_path / "zoom-removed.mp4"))
    assert cut_at(evs, at / FPS) and len(evs) == 1, evs


@pytest.mark.parametrize("k", [1.25, 2.0, 0.5])
def test_the_zoom_step_is_measured(box, k):
    """``best_zoom`` on two frames of the real clip, the second scaled by ``k``: the scale
    within 5%, and far less left than translation alone leaves."""
    small = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (160, 120)).astype(np.float32)
             for f in (box[100], scaled(box[101], k))]  # fmt: skip
    found, share = best_zoom(small[0], small[1], MotionEstimator())
    assert abs(np.log(found / k)) <= np.log(1.05), found
    assert share <= ZOOM_BETTER / 2, share


def test_two_takes_are_not_one_zoom(box):
    """Frames of two moments 6 s apart, one scaled: the scale explains the desk, not the
    hand and the box that moved, so it is not taken (the proofs decide the rest)."""
    a = cv2.resize(cv2.cvtColor(box[20], cv2.COLOR_RGB2GRAY), (160, 120)).astype(np.float32)
    b = cv2.resize(cv2.cvtColor(scaled(box[200], 1.5), cv2.COLOR_RGB2GRAY), (160, 120))
    _, share = best_zoom(a, b.astype(np.float32), MotionEstimator())
    assert share > ZOOM_BETTER, share


def test_a_last_frame_unlike_the_rest_proves_no_cut(box, tmp_path):
    """A picture that changes on the clip's last frame is not seen held: no proof of a
    cut (at most a person looks); the same change with two frames after it is a cut."""
    last = events(encode(box[:120] + box[230:231], tmp_path / "last.mp4"))
    assert not [e for e in last if e["kind"] == "cut"], last
    held = events(encode(box[:120] + box[230:233], tmp_path / "held.mp4"))
    assert cut_at(held, 120 / FPS), held


def test_the_real_webcam_clip_has_no_cut(realdata):
    """box.mp4 itself: continuous, auto exposure and white balance jump at 12.1 s."""
    assert events(realdata / "opencv-doc" / "box.mp4") == []


def test_every_edit_the_peer_finds_is_found(box, tmp_path):
    """PySceneDetect's adaptive and content detectors on the same edited clips: whatever
    they find (within half a second of a true edit), this project finds too, and it
    raises no alarm they do not."""
    scenedetect = pytest.importorskip("scenedetect")
    at = 120
    clips = {
        "removed": (box[:at] + box[at + 45 :], [at / FPS]),
        "reencode": (box, []),
    }
    for name, (frames, truth) in clips.items():
        path = encode(frames, tmp_path / f"{name}.mp4")
        ours = [e["t_s"] for e in events(path)]
        peer = []
        for det in (scenedetect.AdaptiveDetector(), scenedetect.ContentDetector()):
            peer += [s.seconds for s, _ in scenedetect.detect(str(path), det)[1:]]
        for t in peer:
            if any(abs(t - x) <= 0.5 for x in truth):
                assert any(abs(t - x) <= 0.5 for x in ours), (name, t, ours)
        assert len([t for t in ours if all(abs(t - x) > 0.5 for x in truth)]) <= len(
            [t for t in peer if all(abs(t - x) > 0.5 for x in truth)]
        ), (name, ours, peer)


# --- the parcel's size, a stand or a hand ------------------------------------------------

SHAPE = (180, 320)  # analysis frames (gray 320 px, as the decode loop gives them)


def textured(seed: int, shape: tuple[int, int], cell: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 220, (max(1, shape[0] // cell), max(1, shape[1] // cell)))
    img = cv2.resize(small.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST)
    return cv2.GaussianBlur(img, (0, 0), 0.8)  # a lens never resolves a pixel edge


def parcel_scene(share: float, seed: int) -> Callable[[float, float, int], np.ndarray]:
    """A parcel covering ``share`` of the frame on a wood-like table, drawn at an angle
    and an offset; ``face`` picks its printed face (another pose after a removal)."""
    table = textured(seed, SHAPE, 14)
    side = int(np.sqrt(share * SHAPE[0] * SHAPE[1]))
    faces = [textured(seed + 1 + k, (side, side), max(2, side // 8)) for k in range(2)]

    def draw(angle: float, dx: float, face: int) -> np.ndarray:
        img = table.copy()
        p = faces[face]
        c = (SHAPE[1] / 2 + dx, SHAPE[0] / 2)
        m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        m[:, 2] += np.array(c) - side / 2
        warped = cv2.warpAffine(p, m, SHAPE[::-1])
        mask = cv2.warpAffine(np.ones_like(p), m, SHAPE[::-1])
        img[mask > 0] = warped[mask > 0]
        return img

    return draw


def shaken(imgs: list[np.ndarray], hand: bool, seed: int) -> list[np.ndarray]:
    """A camera on a stand (sensor noise only) or in a hand (smooth shake, ~1 px)."""
    rng = np.random.default_rng(seed)
    x = y = 0.0
    out = []
    for img in imgs:
        if hand:
            x, y = 0.9 * x + rng.normal(0, 0.6), 0.9 * y + rng.normal(0, 0.6)
            m = np.float32([[1, 0, x], [0, 1, y]])
            img = cv2.warpAffine(img, m, SHAPE[::-1], borderMode=cv2.BORDER_REFLECT)
        noisy = img + rng.normal(0, 1.5, img.shape)
        out.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def detect(imgs: list[np.ndarray]) -> list:
    det = CutDetector(None, load_policy())  # type: ignore[arg-type]
    for i, g in enumerate(imgs):
        det.process(
            Frame(i, i / FPS, g, cv2.resize(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), (160, 90)))
        )
    return [e for e in det.finish().events if e.kind in CONTINUITY]


SHARES = [0.03, 0.15, 0.8]


@pytest.mark.parametrize("hand", [False, True], ids=["stand", "hand"])
@pytest.mark.parametrize("share", SHARES)
def test_a_removed_segment_is_a_cut_whatever_the_parcel_size(share, hand):
    """The parcel is held, turned slowly, then (segment removed) shown at another pose."""
    draw = parcel_scene(share, seed=int(share * 100))
    before = [draw(10 + 0.3 * i, 0.2 * i, 0) for i in range(45)]
    after = [draw(70 + 0.3 * i, 12 + 0.2 * i, 1) for i in range(45)]
    evs = detect(shaken(before + after, hand, seed=3))
    assert [(e.kind, round(e.t_s * FPS)) for e in evs] == [("cut", 45)], evs


@pytest.mark.parametrize("hand", [False, True], ids=["stand", "hand"])
@pytest.mark.parametrize("share", SHARES)
def test_a_parcel_turning_on_the_table_is_no_cut(share, hand):
    """Turned at up to 6 degrees a frame and slid along, then held: continuous."""
    draw = parcel_scene(share, seed=int(share * 100) + 7)
    angle, dx, imgs = 0.0, 0.0, []
    for i in range(90):
        speed = 6.0 * np.sin(np.pi * min(i, 60) / 60)  # accelerates, slows, holds
        angle += speed
        dx += speed / 3
        imgs.append(draw(angle, dx, 0))
    assert detect(shaken(imgs, hand, seed=4)) == []


# --- a second take, a bump, an overlay faded in, a freeze's edge -------------------------


def colour_detect(imgs: list[np.ndarray]) -> list:
    """``detect`` for colour frames (BGR, 320 px): gray and the 160 px colour image."""
    det = CutDetector(None, load_policy())  # type: ignore[arg-type]
    for i, c in enumerate(imgs):
        g = cv2.cvtColor(c, cv2.COLOR_BGR2GRAY)
        det.process(Frame(i, i / FPS, g, cv2.resize(c, (160, 90), interpolation=cv2.INTER_AREA)))
    return [e for e in det.finish().events if e.kind in CONTINUITY]


def still_take(seed: int, n: int, light=(1.0, 1.0, 1.0), shift=(0.0, 0.0)) -> list[np.ndarray]:
    """A camera on a stand over a parcel that is not moving, in some light, from some place."""
    draw = parcel_scene(0.1, seed)
    base = cv2.cvtColor(draw(15.0, 0.0, 0), cv2.COLOR_GRAY2BGR).astype(np.float32)
    base = base * np.array([0.9, 1.0, 1.1], np.float32)  # a warm table and carton
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    base = cv2.warpAffine(base, m, SHAPE[::-1], borderMode=cv2.BORDER_REFLECT)
    base = base * np.array(light, np.float32)
    rng = np.random.default_rng(seed)
    return [
        np.clip(base + rng.normal(0, 1.0, base.shape), 0, 255).astype(np.uint8) for _ in range(n)
    ]


def test_a_second_take_in_other_light_is_a_cut():
    """The devset's second take: the camera set up again 3 px away, other light and white
    balance, the parcel as it was: nothing in the picture moved but the whole of it."""
    first = still_take(5, 45)
    second = still_take(5, 45, light=(1.08, 0.93, 0.85), shift=(-3.0, 1.5))
    evs = colour_detect(first + second)
    assert [(e.kind, round(e.t_s * FPS)) for e in evs] == [("cut", 45)], evs


@pytest.mark.parametrize("k", [1.1, 1.15, 1.5, 0.87])
def test_a_second_take_from_closer_is_never_passed(k):
    """The camera set up again a little closer (or further) over a parcel at rest: the
    step of scale explains the picture, but it is no proof of one take: a zoom step or
    a cut, never nothing."""
    first = still_take(5, 45)
    second = [scaled(f, k) for f in still_take(5, 45, shift=(-3.0, 1.5))]
    evs = colour_detect(first + second)
    assert [round(e.t_s * FPS) for e in evs] == [45], evs
    assert evs[0].kind in ("cut", "zoom_step"), evs


@pytest.mark.parametrize("k", [1.15, 1.3, 2.0, 0.7])
@pytest.mark.parametrize("hand", [False, True], ids=["stand", "hand"])
def test_a_removed_segment_with_a_small_parcel_behind_a_zoom_step_is_a_cut(hand, k):
    """A 3% parcel turned, then (segment removed, camera zoomed) shown at another pose:
    the scale explains the table, not the parcel, so the proofs in one view keep the cut."""
    draw = parcel_scene(0.03, seed=3)
    before = [draw(10 + 0.3 * i, 0.2 * i, 0) for i in range(45)]
    after = [scaled(draw(70 + 0.3 * i, 12 + 0.2 * i, 1), k) for i in range(45)]
    evs = detect(shaken(before + after, hand, seed=3))
    assert [(e.kind, round(e.t_s * FPS)) for e in evs] == [("cut", 45)], evs


def test_a_bump_of_the_stand_is_no_cut():
    """The table is knocked: the picture shakes 3 px and settles back, light unchanged."""
    frames = still_take(6, 90)
    bump = {40: (3.0, 1.0), 41: (-1.5, -0.5), 42: (0.8, 0.3), 43: (-0.3, 0.0)}
    out = []
    for i, f in enumerate(frames):
        dx, dy = bump.get(i, (0.0, 0.0))
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        out.append(cv2.warpAffine(f, m, SHAPE[::-1], borderMode=cv2.BORDER_REFLECT))
    assert colour_detect(out) == []


def test_an_overlay_faded_in_by_fits_and_starts_is_no_dissolve():
    """A renderer's item drawn over the label, its opacity stepping every other frame over a
    second (the devset does this when the parcel is opened): a mix in the picture, but no
    editor's dissolve, whose weight rises by an even step every frame."""
    frames = still_take(7, 100)
    item = np.zeros_like(frames[0])
    cv2.rectangle(item, (120, 60), (200, 120), (60, 40, 200), -1)
    cv2.putText(item, "ITEM", (128, 98), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    mask = (item.sum(axis=2) > 0)[..., None]
    out = []
    for i, f in enumerate(frames):
        a = min(max((i - 40) // 2 * 2 / 30, 0.0), 1.0)  # steps of 2/30 every other frame
        if a in (2 / 30, 4 / 30):
            a += 0.1  # and an uneven start, as the renderer's
        mixed = np.where(mask, (1 - a) * f + a * item, f)
        out.append(np.clip(mixed, 0, 255).astype(np.uint8))
    assert colour_detect(out) == []


def test_the_jump_at_a_freezes_end_belongs_to_the_freeze():
    """A freeze that hides time ends in a jump: one event (the freeze), not also a cut."""
    from validator.detectors.base import Findings
    from validator.models import Event

    draw = parcel_scene(0.15, seed=9)
    moving = [draw(0.8 * i, 0.3 * i, 0) for i in range(90)]
    frozen = moving[:30] + [moving[30]] * 30 + moving[60:]  # 1 s hidden behind a still
    det = CutDetector(None, load_policy())  # type: ignore[arg-type]
    for i, g in enumerate(shaken(frozen, False, seed=2)):
        det.process(
            Frame(i, i / FPS, g, cv2.resize(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), (160, 90)))
        )
    freeze = Findings(events=[Event("freeze", 30 / FPS, length_s=30 / FPS)])
    without = [e for e in det.finish().events if e.kind in CONTINUITY]
    det2 = CutDetector(None, load_policy())  # type: ignore[arg-type]
    for i, g in enumerate(shaken(frozen, False, seed=2)):
        det2.process(
            Frame(i, i / FPS, g, cv2.resize(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), (160, 90)))
        )
    with_freeze = [e for e in det2.finish({"freeze": freeze}).events if e.kind in CONTINUITY]
    assert [round(e.t_s * FPS) for e in without] == [60], without
    assert with_freeze == []
