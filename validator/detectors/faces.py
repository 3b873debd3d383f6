"""Parcel faces shown to the camera, counted from the parcel's motion, and the opening.

Method (issue 10, item 5: faces by geometry).

1. Motion of the parcel against the table. A few times a second (``STILL_HZ``,
   every frame up to ``MOVING_HZ`` while the parcel turns) the dense optical
   flow of the 160 px picture is measured: DIS (Kroeger et al., 2016, "Fast
   optical flow using dense inverse search") while nothing moves, as a cheap
   gate, and Farneback's polynomial-expansion flow (Farneback, 2003) while the
   parcel moves, whose speeds are the better calibrated. The camera's own
   motion is a similarity fitted by iterated least squares to the flow of the
   frame's outer band (``BORDER``), the table; what is left over is the
   parcel's (and the hand's) motion. Flow is trusted only along directions the
   picture has gradient in (the aperture problem, Horn & Schunck, 1981): a
   striped face leaves the flow along its stripes undetermined, so each
   component is used only where the smoothed structure tensor has enough
   energy in that direction (``APERTURE_RATIO``).

2. Rotation from the flow. A rigid box turning about its centre moves its
   visible surface at the angular speed times the depth in front of the axis;
   the fastest points (the nearest edge) move at omega * Z_max. Over a quarter
   turn the nearest edge's depth integrates to the mean of the silhouette widths
   before and after, so omega = 2 * v_fast / w (per step, v_fast the
   ``FAST_QUANTILE`` of the speeds, w the extent of the moving region along the
   motion) integrates to 90 degrees per quarter turn whatever the box's
   proportions. Horizontal sweep is yaw, vertical sweep pitch; roll (and
   scale) come from a least-squares similarity fitted to the parcel's flow and
   are removed before the sweep is read. The steps are composed as rotations,
   so a combined pitch and roll is followed as one turn.

3. Holds and turns. A run of steps without rotation (``TURN_DEG_S``) that lasts
   ``completeness.min_face_hold_s`` is a hold (a face shown); the rotation
   composed between two holds is a turn. Each hold keeps its span, a colour
   descriptor and its dark share (for the opening), and ORB features (Rublee et
   al., 2011) of the parcel at about ``APPEAR_PX`` px, taken once from the
   full-resolution picture, restricted to where the parcel moved just before
   or after the hold (the table never moves).

4. Turns not followed. A picture without detail (a covered lens), a change no
   flow explains between two still views (a cut, the end of a frozen stretch: the
   flow-warped picture differs ``JUMP_FACTOR`` times more than usual and stillness
   follows within ``JUMP_STEPS``), a turn whose steps mostly leave the picture
   unexplained (``FLOW_FAIL_GRAY``: a flick faster than the flow follows), and a
   turn across the cut and freeze detectors' events carry no geometry.

5. Faces (``validator.detectors.orientation``). Every turn is compared with the
   24 rotations of a cube; appearance confirms: two holds whose ORB features
   match under a homography with many spatially distinct inliers (RANSAC,
   Fischler & Bolles, 1981) show one face, two well-textured holds with no
   match likely two (more so for one hold and the next), holds in which the
   waybill detector read different codes certainly two. The best sequence of
   orientations gives the count; its posterior share is the confidence. The
   count is *established* when that confidence reaches ``ESTABLISHED``, at most
   ``MAX_UNFOLLOWED_SHARE`` of the turns went unfollowed, and obeying every strong
   "same face" match would not change it (two faces printed alike, plain kraft);
   otherwise the completeness verdict asks a person: it fails only on an
   established count under six.

6. Flickering light (``FLICKER_MIN``): where pairs of pictures are shown to differ by the
   light of their rows alone (lamps on mains power, through a rolling shutter), each
   picture is relit row by row before it is compared, a ``flicker`` event is reported
   (completeness: review), and a count under six is not established.

7. Opening (``validator.detectors.opening``): the time after which the parcel
   region shows a large dark inside (darker than ``DARK_RATIO`` of the table, or
   of the faces held, where those are darker) and never again looks like a face
   held before. A face counts when it was held ``min_face_hold_s`` before it.

Measured (faces counted / established): the dev set 12 of 12 counts right, 10
established, d09 (dim) and d10 (out of focus) left to a person; the generated
variants right where established, 0.2 s flicks with 1/3-frame pans and the plain
carton's alike faces left to a person; the real webcam clip (opencv-doc box.mp4,
a printed box lifted and tilted) one face.

Bounded state: a few numbers per step of the current turn, a few kilobytes of
features per hold (at most ``MAX_HOLDS``); never frames.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, Metrics, register
from validator.detectors.opening import DarkEpisodes, find_opening
from validator.detectors.orientation import Turn, exp_so3, fuse
from validator.detectors.steps import FrameSteps
from validator.models import Event, EventKind, KindReason

# -- sampling -----------------------------------------------------------------------
STILL_HZ = 15.0  # flow rate while the parcel is still (a turn is seen within 67 ms; at 10 Hz
# the first step of a turn spans 100 ms and the dev set's d07 lost a face)
MOVING_HZ = 30.0  # every frame up to 30 Hz while it turns: a 0.5 s quarter turn is 15 steps
NEVER = 1 << 30  # a frame stride no count reaches: sampled by time alone
FILL_ALONG = 0.7  # a step across dropped frames is filled where it turns within ~45 degrees
# of the way the turn went (cosine) ...
FILL_MAX_DEG = 30.0  # ... by at most this (a quarter turn in 0.3 s, 300 degrees/s, over the
# 0.1 s of two frames dropped)
FLOW_BLUR_PX = 1.0  # Gaussian sigma on the 160 px picture: removes texture that aliases
FARNEBACK = (0.5, 3, 9, 2, 5, 1.1, 0)  # pyramid 0.5 x 3, window 9, 2 iterations, poly 5
# (window 11 and 3 iterations: the same counts on the dev set and the fixtures, 1.5x the time)
MIN_DETAIL = 1.5  # luma std (160 px) under which the picture shows nothing (covered lens);
# the dev set's dim room (exposure x0.2) has 2.2-4 and still shows the parcel
CONTRAST_STD = 40.0  # a dim picture's contrast is stretched to this std (gray levels) ...
MAX_GAIN = 6.0  # ... by at most this factor (the dev set's dim room needs 4-5x)
# -- flickering light ---------------------------------------------------------------
# Lamps on 50 Hz mains flicker at 100 Hz; a phone's rolling shutter reads the rows over
# 20-33 ms, so the picture carries 2-3 bright and dark bands that move from frame to frame
# (benchmarks/bench_transcodes.py, ``flicker``). Brightness constancy, which the flow
# assumes, fails: on a plain carton the moving bands read as motion, and a face held still
# is never seen still (dev set d01 at +-5%: four of its seven holds lost, a review).
# The light of each row of the later picture relative to the earlier one (``row_light``:
# the median log ratio of the row, smoothed down the rows by ``ROW_LIGHT_SIGMA``, less its
# median over the rows, so that a change of exposure stays as it was) is divided out
# (``relight_rows``). That is done only where the light flickers, which the picture
# proves: a pair of pictures whose mean difference relighting cuts to ``LIGHT_SHARE`` of
# what it was changed by its light. A camera moving over a textured table also changes
# the rows' medians, but relighting leaves its pictures about as different, and a still
# picture in steady light has nothing to explain. Measured (blurred 160 px pictures, mean
# difference after relighting / before, per pair): the dev set, generated hand-held
# clips, the real clips and the bench clip 0.95-1.02 in the median pair, 0.63 at the
# tenth percentile; under +-5% flicker 0.34-0.36 in the median pair (the dim room, its
# noise stretched, 0.67: left as before). Counted with ``FLICKER_MIN``: none of 109
# clips in steady light (dev set, its CRF 23 copies, every generated variant, the real
# clips, the bench clips) has a window of such pairs, at most 5 (one generated clip);
# 11 of the dev set's 12 under flicker have 126-230 pairs (the dim room 5).
ROW_LIGHT_SIGMA = 1.0  # rows of the 160 px picture (the bands are 27+ rows apart at 90)
ROW_LIGHT_MIN = 0.01  # rows whose light differs by less than 1% (2.5 levels) are left alone
LIGHT_SHARE = 1 / 3  # relighting leaves at most this share of the pair's difference ...
LIGHT_DIFF_GRAY = 0.5  # ... of a mean difference of at least this (levels, noise below)
FLICKER_PAIRS = 30  # the light flickers while this many last sampled pairs (about 2 s) ...
FLICKER_MIN = 10  # ... hold this many changed by their light (flicker: half of them)
# -- camera and parcel motion (px at 160 px) -----------------------------------------
BORDER = 0.12  # the frame's outer band: the table, which the camera's motion moves
BAND_STEP = 3  # every third pixel of the band is enough for four parameters (~1000 points)
TENSOR_PX = 7  # box window of the structure tensor (about a Gaussian of sigma 2)
MOVE_PX = 0.4  # residual flow over this (per 1/30 s step) is the parcel moving
MOVE_SHARE = (
    0.005  # ... on at least this share of the frame (a parcel at 3% of it moves on ~2%) ...
)
MOVE_MEDIAN_PX = 0.7  # ... with a median speed over this (x sqrt(frames per step))
STRUCTURE_MIN = 0.5  # structure-tensor energy ((gray levels/px)^2) under which flow is noise
APERTURE_RATIO = 0.2  # a flow component needs this share of the other direction's energy
FAST_QUANTILE = 95  # percentile of the parcel's speeds read as its nearest edge's speed
MIN_EXTENT_PX = 4.0  # smallest extent of the moving region used as the silhouette width
# -- holds and turns ------------------------------------------------------------------
TURN_DEG_S = 25.0  # rotating slower than this (degrees/s) is holding still (hand wobble: <10)
FLOW_FAIL_GRAY = 6.0  # flow-warped difference (gray levels, 160 px) over which a step's
# flow failed: turns measure p90 2-3 (dev set, generated), 0.2 s flicks 14-15
MIN_PARCEL_PX = 45  # a turning parcel moving over less than this (long side, px at 160)
# is too small to follow: generated parcels at 3% and 8% of the frame (~25 and ~40 px)
# gave false counts, at 15% (~52 px) and the dev set's (~60 px) right ones
UNFOLLOWED_SHARE = 1 / 3  # a turn with this share of failed steps is not followed
FAST_DEG_S = 450.0  # faster than this the flow underestimates (a 0.2 s flick): trust less
JUMP_GRAY = 2.0  # mean flow-warped difference (gray levels) over which a still picture jumped
JUMP_FACTOR = 10.0  # ... when also this many times its usual level (cuts measured 30-600x,
# the dev set's removed segment 3.1 against 0.09; texture and noise keep still pictures < 2)
JUMP_EMA = 0.1  # the usual level follows the still steps with this weight ...
LEARN_EVERY = 3  # ... sampled every third still step
STILL_DIFF_GRAY = 3  # a pixel that changed less than this (gray levels, blurred) is noise ...
STILL_DIFF_SHARE = 0.002  # ... and with fewer changed than this share nothing moved (a parcel
# at 3% of the frame turning changes several per cent of it)
JUMP_STEPS = 2  # a suspect change followed by stillness within this many steps is a jump
PAN_PX = 4.0  # camera motion over this (px at 160 per 1/30 s) smears the parcel: trust less
MASK_STEPS = 3  # moving steps just before/after a hold that outline the parcel for features
# -- appearance --------------------------------------------------------------------------
APPEAR_PX = 400  # the parcel's long side in the picture its features are taken from
ORB_FEATURES = 1500  # detected, then thinned to ``CELL_KEEP`` per cell so print spreads out
ORB_CELL = 0.025  # grid cell for thinning, as a share of the picture's long side
CELL_KEEP = 4
MAX_KEYPOINTS = 400
RATIO = 0.8  # Lowe's ratio test (Lowe, 2004)
RANSAC_PX = 3.0  # at 960 px long side; scaled with the picture
INLIER_CELL = 8.0 / 960  # inliers are counted once per cell (share of the long side)
SAME_CELLS = 10  # distinct inlier cells from which two holds show one face ...
SAME_SPAN = 0.38  # ... when they span this share of a hold's features (one face seen again:
# 0.43-0.99; the digit disc two generated faces share 0.32, two alike labels 0.24)
SAME_NATS = 4.0  # weight of a "same face" match (a clear turn measures ~2.5 nats)
DIFF_CELLS = 5  # at most this many (chance matches reach 4-5, one face seen twice 9+) ...
DIFF_MIN_KEYPOINTS = 100  # ... between two well-textured holds
DIFF_NATS = 2.0  # weight of "no match": weaker, as light and pose can hide a match ...
DIFF_NEXT_NATS = 4.0  # ... but not between one hold and the next: a face re-posed within a
# second matches (the dev set's pairs: 12-17 cells), so no match there says "another face"
LABEL_NATS = 8.0  # holds that read different waybill codes are different faces
OBEY_NATS = 50.0  # a "same face" match made binding, to see whether it changes the count
# -- fusion ------------------------------------------------------------------------------
SIGMA_DEG = 22.0  # spread of a measured turn around its true quarter-turn multiple
UNRELIABLE_SIGMA = 2.0  # sigma grows by up to this factor with the share of doubtful steps
ESTABLISHED = 0.75  # posterior share of the count from which it is established ...
MAX_UNFOLLOWED_SHARE = 1 / 3  # ... with at most this share of its turns not followed
MAX_FUSED_HOLDS = 40  # holds before the opening considered (an unboxing has ~6-15)
MAX_HOLDS = 400  # bounded state on absurd inputs
MAX_FACE_LUMAS = 24  # the last holds' luma, the reference for the inside's darkness
# -- turns the flow cannot see -----------------------------------------------------------
# At 160 px a parcel at 3-8 % of the frame (25-40 px) turns by less than the flow's noise
# (measured: residual flow 0.5 px at a median where 1 px is needed), so its turns leave
# one long "hold". The picture still changes: a hold whose picture changed while the flow
# saw nothing move (neither the parcel nor the camera) hid a turn, and the count it gives
# is not established (review, never a fail resting on turns nobody saw).
SNAP_S = 0.5  # a held picture is kept (80 px gray) this often ...
MAX_SNAPS = 240  # ... at most this many a hold (2 min), for the first MAX_FUSED_HOLDS holds
CAMERA_PX = 0.3  # a camera similarity moving the frame's corner over this (px at 160 per
# step) is camera motion: the picture changes, and the flow saw it
HOLD_SHIFT_PX = 2  # sway tolerated by the comparison (px at 80: 2.5 % of the width)
HOLD_DIFF_GRAY = 20  # a pixel differing by more than this from all within the sway changed
UNSEEN_SHARE = 0.01  # a hold with more of the picture changed unseen hid a turn: a quarter
# turn of a parcel at 3-8 % of the frame changed 1.4-2.3 % (generated stand clips); holds
# of counted turns changed 0.0 % (fixtures, the dev set's five-face clip, box.mp4), and
# 0.6-1.0 % on the dev set's held top face as the camera zooms in to the opening (six
# faces counted there: the rule does not apply)
VISIT_GAP_S = 0.8  # holds of one face this close are one visit
MAX_FACES = 6
# -- colour descriptor (the opening compares holds by it) ---------------------------------
HUE_BINS = 12
SAT_SPLIT = (60, 150)  # saturation: under 60 achromatic, 60-150 muted, over 150 vivid
VAL_BINS = (70, 170)  # achromatic brightness: dark, mid, bright
MIN_CHROMA_V = 50  # pixels darker than this have no reliable hue
DESC_EVERY = 3  # a still run's colour is sampled every third step (a hold's look is steady)
MERGE_DISTANCE = 0.30  # total-variation distance under which two holds look the same
# The inside, in the box's own shadow, is darker than the table and than the faces held:
# generated insides 0.36 of the table, the dev set's 0.62 of its kraft faces, while faces
# held stay over 0.85 of the faces' median (30th percentile of their pixels) and a kraft
# carton on a white desk is ~0.6 of the desk.
DARK_TABLE = 0.5  # before any face was held: darker than this share of the table's luma
DARK_FACES = 0.7  # then: darker than this share of the faces' luma ...
DARK_TABLE_HELD = 0.75  # ... and of the table's
PRINT_PX = 5  # px at 160: wider than print at any parcel size the matrix has (bars 1-2,
# strokes 2-3, an 80 % parcel's label header ~5); an inside is 10 px or more across
_PRINT_KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (PRINT_PX, PRINT_PX))
TABLE_LUMA = 90.0  # exposure the colour bins are set for
CENTRE = 0.3  # before the parcel has moved, its region is this share around the centre


def descriptor(bgr: np.ndarray) -> np.ndarray:
    """Normalised HSV histogram: ``HUE_BINS`` x 2 saturation levels + 3 achromatic bins
    (Swain & Ballard, 1991, "Color indexing")."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    h = hsv[..., 0].ravel().astype(np.int32)
    s = hsv[..., 1].ravel()
    v = hsv[..., 2].ravel()
    chroma = (s >= SAT_SPLIT[0]) & (v >= MIN_CHROMA_V)
    hue_bin = np.minimum(h * HUE_BINS // 180, HUE_BINS - 1)
    idx = np.where(
        chroma,
        hue_bin * 2 + (s >= SAT_SPLIT[1]),
        2 * HUE_BINS + (v >= VAL_BINS[0]).astype(np.int32) + (v >= VAL_BINS[1]),
    )
    hist = np.bincount(idx, minlength=2 * HUE_BINS + 3).astype(np.float32)
    return hist / max(1.0, float(hist.sum()))


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance of two normalised histograms (0 same, 1 disjoint)."""
    return 0.5 * float(np.abs(a - b).sum())


def table_luma(gray: np.ndarray) -> float:
    """Median luma of the frame's top and bottom sixths: the table around the parcel."""
    k = max(1, gray.shape[0] // 6)
    return float(np.median(np.concatenate((gray[:k:3, ::3].ravel(), gray[-k::3, ::3].ravel()))))


@dataclass(slots=True)
class Hold:
    """A steady pose of the parcel: its span, look and features (no pixels)."""

    start_s: float
    end_s: float
    desc: np.ndarray  # mean colour descriptor of the parcel region
    samples: int
    dark: float  # mean share of dark pixels in the parcel region
    points: np.ndarray | None = field(default=None, repr=False)  # Nx2 keypoints (feature px)
    features: np.ndarray | None = field(default=None, repr=False)  # Nx32 ORB descriptors
    scale: float = 960.0  # long side of the picture the features were taken from
    # the picture every ``SNAP_S`` while held (80 px gray), and whether the flow saw
    # anything move since the one before: did the picture change while nothing moved?
    snaps: list[tuple[float, np.ndarray, bool]] = field(default_factory=list, repr=False)

    @property
    def mid_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(slots=True)
class _TurnStats:
    """The rotation composed since the last hold and how many of its steps were doubtful."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    steps: int = 0
    doubtful: int = 0
    lost: bool = False  # the picture went blank or jumped: not followed
    start_s: float = 0.0
    suspects: int = 0  # steps whose change no flow explained
    failed: int = 0  # steps whose flow left the picture unexplained (too fast)

    @property
    def followed(self) -> bool:
        """Not lost, not a jump (a change no flow explains between two still views: a
        cut, the end of a frozen stretch, rather than the sudden start of a turn), and
        not mostly too fast for the flow."""
        if self.lost or (self.suspects and self.steps <= JUMP_STEPS):
            return False
        return self.failed < UNFOLLOWED_SHARE * max(1, self.steps)


@dataclass(slots=True)
class _Run:
    """Steps without rotation since ``start_s``: a hold once long enough."""

    start_s: float
    last_s: float
    desc_sum: np.ndarray
    dark_sum: float
    n: int = 1
    n_desc: int = 1  # samples with a colour descriptor (every ``DESC_EVERY``-th)
    hold: Hold | None = None  # set once the run is long enough
    snaps: list[tuple[float, np.ndarray, bool]] = field(default_factory=list)
    moved: bool = False  # the flow saw motion since the last snap


# -- flow helpers ---------------------------------------------------------------------------


class _Grid:
    """Pixel coordinates of one picture size, centred on the frame, and its outer band's
    sample points (``BORDER``, every ``BAND_STEP``-th pixel): computed once per size."""

    def __init__(self, h: int, w: int) -> None:
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.shape = (h, w)
        self.gx, self.gy = gx, gy  # absolute, for remapping
        self.x, self.y = gx - w / 2.0, gy - h / 2.0  # centred
        by, bx = max(1, int(h * BORDER)), max(1, int(w * BORDER))
        ys, xs = np.mgrid[0:h:BAND_STEP, 0:w:BAND_STEP]
        band = (ys < by) | (ys >= h - by) | (xs < bx) | (xs >= w - bx)
        self.band_y, self.band_x = ys[band], xs[band]


_Stretch = tuple[float, float] | None  # a dim picture's contrast stretch: gain, offset


def soften(small: np.ndarray) -> np.ndarray:
    """The 160 px gray blurred by ``FLOW_BLUR_PX``: texture that aliases removed."""
    return cv2.GaussianBlur(small, (0, 0), FLOW_BLUR_PX)


def flow_picture(
    soft: np.ndarray, std: float, stretch: _Stretch = None
) -> tuple[np.ndarray, _Stretch]:
    """The picture the flow reads: the softened 160 px gray (``soften``; ``std``, the
    gray's std), a dim one's contrast stretched about its mean (or by ``stretch``,
    another picture's, to read this one as that one was read); and the stretch."""
    g = soft
    if stretch is None and std < CONTRAST_STD:  # dim: stretch it so its edges carry flow
        gain = min(MAX_GAIN, CONTRAST_STD / std)
        stretch = (gain, float(g.mean()) * (1.0 - gain))
    if stretch is not None:
        g = cv2.convertScaleAbs(g, alpha=stretch[0], beta=stretch[1])
    return g, stretch


def changed(prev: np.ndarray, g: np.ndarray) -> bool:
    """Whether two flow pictures differ (``STILL_DIFF_GRAY`` on ``STILL_DIFF_SHARE``)."""
    diff = cv2.threshold(cv2.absdiff(g, prev), STILL_DIFF_GRAY, 1, 0)[1]
    return cv2.countNonZero(diff) >= STILL_DIFF_SHARE * g.size


_LOG1P = np.log1p(np.arange(256, dtype=np.float32))  # of each gray level


def row_light(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Per row, the log light of ``cur`` over ``prev``, less its median over the rows
    (``ROW_LIGHT_SIGMA``)."""
    ratio = _LOG1P[cur] - _LOG1P[prev]
    rows = np.median(ratio, axis=1).astype(np.float32).reshape(-1, 1)
    rows = cv2.GaussianBlur(rows, (1, 0), 0, sigmaY=ROW_LIGHT_SIGMA).ravel()
    return rows - np.float32(np.median(rows))


def relight_rows(cur: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``cur`` with each row's light divided by ``rows`` (``row_light``)."""
    gain = np.exp(-rows)[:, None]
    return np.clip(cur.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)


def camera_fit(flow: np.ndarray, grid: _Grid) -> np.ndarray:
    """The camera's motion (tx, ty, a, b): a similarity u = tx + a x - b y, v = ty + a y +
    b x about the frame's centre, fitted in closed form by least squares to the flow of
    the frame's outer band, starting from its median and twice dropping the points over
    twice the median residual (the parcel, a hand)."""
    ys, xs = grid.band_y, grid.band_x
    x, y = grid.x[ys, xs], grid.y[ys, xs]
    u, v = flow[ys, xs, 0], flow[ys, xs, 1]
    p = np.array([np.median(u), np.median(v), 0.0, 0.0])
    for _ in range(2):
        r = np.hypot(u - (p[0] + p[2] * x - p[3] * y), v - (p[1] + p[2] * y + p[3] * x))
        sel = r < max(0.5, 2.0 * float(np.median(r)))
        if int(sel.sum()) < 20:
            break
        xs_, ys_, us, vs = x[sel], y[sel], u[sel], v[sel]
        mx, my, mu, mv = xs_.mean(), ys_.mean(), us.mean(), vs.mean()
        dx, dy, du, dv = xs_ - mx, ys_ - my, us - mu, vs - mv
        den = float((dx * dx + dy * dy).sum())
        if den <= 0:
            break
        a = float((dx * du + dy * dv).sum()) / den
        b = float((dx * dv - dy * du).sum()) / den
        p = np.array([mu - a * mx + b * my, mv - a * my - b * mx, a, b])
    return p


def camera_residual(flow: np.ndarray, p: np.ndarray, grid: _Grid) -> np.ndarray:
    """``flow`` less the camera similarity ``p`` (see ``camera_fit``)."""
    tx, ty, a, b = (float(c) for c in p)  # Python floats keep the arithmetic in float32
    res = np.empty_like(flow)
    res[..., 0] = flow[..., 0] - tx - a * grid.x + b * grid.y
    res[..., 1] = flow[..., 1] - ty - a * grid.y - b * grid.x
    return res


def reliable_directions(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the flow's x and y components are determined: enough gradient energy in
    that direction (smoothed structure tensor), and not only across it (stripes)."""
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    jxx = cv2.blur(gx * gx, (TENSOR_PX, TENSOR_PX))
    jyy = cv2.blur(gy * gy, (TENSOR_PX, TENSOR_PX))
    relx = (jxx > STRUCTURE_MIN) & (jxx > APERTURE_RATIO * jyy)
    rely = (jyy > STRUCTURE_MIN) & (jyy > APERTURE_RATIO * jxx)
    return relx, rely


def step_rotation(
    res: np.ndarray, moving: np.ndarray, region: np.ndarray, relx: np.ndarray, rely: np.ndarray
):
    """Rotation vector (radians, camera axes) of one step from the parcel's residual flow
    (``moving``: pixels whose trusted flow components move; ``region``: the moving region,
    for its extent), and the region's box ``(x0, y0, x1, y1)``; None when too little moved."""
    ys, xs = np.nonzero(region)
    if xs.size < 30:
        return None, None
    x0, x1 = np.percentile(xs, (3, 97))
    y0, y1 = np.percentile(ys, (3, 97))
    vx, vy = res[..., 0], res[..., 1]
    both = moving & relx & rely
    wz = sc = 0.0
    cx, cy = float(xs.mean()), float(ys.mean())
    if int(both.sum()) > 10:
        yb, xb = np.nonzero(both)
        cx, cy = float(xb.mean()), float(yb.mean())
        bx, by = xb - cx, yb - cy
        ub, wb = vx[both] - vx[both].mean(), vy[both] - vy[both].mean()
        den = max(1e-6, float((bx * bx + by * by).sum()))
        wz = float((bx * wb - by * ub).sum() / den)  # roll (curl), radians per step
        sc = float((bx * ub + by * wb).sum() / den)  # zoom (divergence)
    mx, my = moving & relx, moving & rely
    qx = qy = 0.0
    if int(mx.sum()) > 10:
        yy, xx = np.nonzero(mx)
        a = vx[mx] - (sc * (xx - cx) - wz * (yy - cy))
        qx = float(np.percentile(a, FAST_QUANTILE if a.mean() > 0 else 100 - FAST_QUANTILE))
    if int(my.sum()) > 10:
        yy, xx = np.nonzero(my)
        b = vy[my] - (sc * (yy - cy) + wz * (xx - cx))
        qy = float(np.percentile(b, FAST_QUANTILE if b.mean() > 0 else 100 - FAST_QUANTILE))
    w = max(MIN_EXTENT_PX, float(x1 - x0))
    h = max(MIN_EXTENT_PX, float(y1 - y0))
    # Camera axes x right, y down, z into the scene: a point in front of the axis
    # at depth Z moves by (-omega_y Z, omega_x Z); Z_max ~ w/2 over a quarter turn.
    omega = np.array([2.0 * qy / h, -2.0 * qx / w, wz])
    return omega, (float(x0), float(y0), float(x1), float(y1))


# -- appearance -------------------------------------------------------------------------------

_ORB = cv2.ORB_create(nfeatures=ORB_FEATURES, fastThreshold=10, edgeThreshold=15, patchSize=21)


def orb_features(gray: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """ORB keypoints (Nx2) and descriptors inside ``mask``, thinned to ``CELL_KEEP`` per
    grid cell by response, so a barcode's many corners do not crowd out the print."""
    kps = _ORB.detect(gray, mask)
    if not kps:
        return np.zeros((0, 2), np.float32), None
    cell = max(4.0, ORB_CELL * max(gray.shape))
    count: dict[tuple[int, int], int] = {}
    keep = []
    for k in sorted(kps, key=lambda k: -k.response):
        c = (int(k.pt[0] // cell), int(k.pt[1] // cell))
        if count.get(c, 0) < CELL_KEEP:
            count[c] = count.get(c, 0) + 1
            keep.append(k)
            if len(keep) >= MAX_KEYPOINTS:
                break
    keep, des = _ORB.compute(gray, keep)
    if des is None:
        return np.zeros((0, 2), np.float32), None
    return np.array([k.pt for k in keep], np.float32), des


def _hull_share(points: np.ndarray, of: np.ndarray) -> float:
    """Area of the convex hull of ``points`` as a share of that of ``of``."""
    if len(points) < 3 or len(of) < 3:
        return 0.0
    whole = cv2.contourArea(cv2.convexHull(of.astype(np.float32)))
    return cv2.contourArea(cv2.convexHull(points.astype(np.float32))) / max(whole, 1.0)


def match(a: Hold, b: Hold) -> tuple[int, float]:
    """Spatially distinct inliers of a RANSAC homography between two holds' features, and
    the share of a hold's features that the inliers span (the larger of the two).

    (0, 0) when there are too few matches or the homography is implausible (a flip, a
    collapse to a point, strong perspective): matches bunched on one printed dot
    otherwise pass for a face. A small span is one print two faces share (a logo, a
    label's layout), not one face seen again.
    """
    if a.features is None or b.features is None or len(a.features) < 8 or len(b.features) < 8:
        return 0, 0.0
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    best, span = 0, 0.0
    for p, q in ((a, b), (b, a)):
        assert p.points is not None and q.points is not None
        pairs = matcher.knnMatch(p.features, q.features, k=2)
        good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
        if len(good) < 8:
            continue
        pa = p.points[[m.queryIdx for m in good]]
        pb = q.points[[m.trainIdx for m in good]]
        hmat, inl = cv2.findHomography(pa, pb, cv2.RANSAC, RANSAC_PX * q.scale / 960.0)
        if hmat is None or inl is None:
            continue
        det = float(np.linalg.det(hmat[:2, :2])) * (p.scale / q.scale) ** 2
        if not 0.25 < det < 4.0 or float(np.abs(hmat[2, :2]).max()) * p.scale > 3.0:
            continue
        sel = inl.ravel().astype(bool)
        ca = {tuple(c) for c in (pa[sel] // (INLIER_CELL * p.scale)).astype(int)}
        cb = {tuple(c) for c in (pb[sel] // (INLIER_CELL * q.scale)).astype(int)}
        cells = min(len(ca), len(cb))
        if cells > best:
            best = cells
            span = max(_hull_share(pa[sel], p.points), _hull_share(pb[sel], q.points))
    return best, span


def self_consistent(
    same: dict[tuple[int, int], float],
    different: dict[tuple[int, int], float],
    span: Callable[[int, int], float],
) -> list[tuple[int, int]]:
    """The "same face" matches that the looks do not contradict themselves.

    Two matches a~b and b~c say a~c; where the looks say a and c are different faces,
    one of the two matches is wrong (a print shared by two faces, a label's edge), and the
    weaker one (the smaller ``span``) is dropped. Looks that contradict themselves are no
    evidence against the turns: the generated label-too-small clip's last hold matched
    both the first face (span 0.83) and the sixth (0.42) while the first and the sixth
    look different, which made a count of six that its turns establish "not established".
    """
    kept = dict(same)
    changed = True
    while changed:
        changed = False
        for (a, b), (c, d) in itertools.combinations(sorted(kept), 2):
            shared = {a, b} & {c, d}
            if len(shared) != 1:
                continue
            ends = tuple(sorted(({a, b} | {c, d}) - shared))
            if ends in different:
                weaker = min((a, b), (c, d), key=lambda p: span(*p))
                del kept[weaker]
                changed = True
                break
    return sorted(kept)


def match_cells(a: Hold, b: Hold) -> int:
    """Spatially distinct inliers of the homography between two holds (see ``match``)."""
    return match(a, b)[0]


def different_labels(
    holds: list[Hold],
    spans: Mapping[str, list[list[float]]],
    together: Iterable[Sequence[str]] = (),
) -> set[tuple[int, int]]:
    """Pairs of holds that showed different waybill codes and no code in common.

    One face carries one label: holds in which the waybill detector read only
    other codes are other faces, however alike they look. Codes ever read on one
    frame (``together``: a label's number and its order code) count as one.
    """
    same = {frozenset(p) for p in together}
    seen = [
        frozenset(
            text
            for text, runs in spans.items()
            if any(a <= h.end_s + 1e-6 and b >= h.start_s - 1e-6 for a, b in runs)
        )
        for h in holds
    ]
    return {
        (i, j)
        for i in range(len(holds))
        for j in range(i + 1, len(holds))
        if seen[i]
        and seen[j]
        and not seen[i] & seen[j]
        and not any(frozenset((a, b)) in same for a in seen[i] for b in seen[j])
    }


def first_visit(holds: list[Hold]) -> tuple[float, float]:
    """Span of the first visit: the first hold and the ones that follow it without a gap."""
    start, end = holds[0].start_s, holds[0].end_s
    for h in holds[1:]:
        if h.start_s - end > VISIT_GAP_S:
            break
        end = h.end_s
    return start, end


def unseen_change(snaps: list[tuple[float, np.ndarray, bool]], until_s: float | None) -> float:
    """The largest share of the picture that changed while the flow saw nothing move,
    within one hold up to ``until_s``: a turn the flow did not see (a parcel too small in
    the frame to follow) changes the picture within what looked like one still pose.

    Snapshots between which the flow measured motion start a new quiet stretch; the first
    snapshot of each stretch is compared with the later ones. A pixel changed when it
    differs by over ``HOLD_DIFF_GRAY`` from every pixel within ``HOLD_SHIFT_PX`` of it in
    the other picture, both ways (a tolerant difference: a hand's sway, a drift of the
    camera or a frame of jitter is no change), once the global change of exposure (the
    median difference) is taken out."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * HOLD_SHIFT_PX + 1, 2 * HOLD_SHIFT_PX + 1))
    worst = 0.0
    ref = None
    for t_s, img, moved in snaps:
        if until_s is not None and t_s > until_s + 1e-6:
            break
        b = img.astype(np.int16)
        if ref is None or moved:
            ref = (b, cv2.dilate(b, k), cv2.erode(b, k))
            continue
        a, a_hi, a_lo = ref
        b = b + int(np.median(a - b))
        b_hi, b_lo = cv2.dilate(b, k), cv2.erode(b, k)
        t = HOLD_DIFF_GRAY
        changed = ((a > b_hi + t) | (a < b_lo - t)) & ((b > a_hi + t) | (b < a_lo - t))
        worst = max(worst, float(np.count_nonzero(changed)) / changed.size)
    return worst


def _overlaps(a0: float, a1: float, events: Iterable[tuple[float, float]]) -> bool:
    return any(e0 <= a1 + 1e-6 and e1 >= a0 - 1e-6 for e0, e1 in events)


@dataclass(frozen=True, slots=True)
class FaceMetrics(Metrics):
    """The faces shown before the opening, the opening, and how the count was reached."""

    count: int = 0
    shown: list[dict[str, Any]] = field(default_factory=list)  # face, t_s, held_s, holds
    opened_at_s: float | None = None
    starts_open: bool = False
    opening_t_s: float | None = None  # when the opening was seen
    holds: list[dict[str, float]] = field(default_factory=list)  # start_s, end_s, dark
    # whether the count is established (None: not said, in metrics made without the
    # detector); ``why`` not: looks_conflict, unfollowed, unseen_turns, flicker,
    # one_pose, turns_unsure, no_holds
    established: bool | None = None
    why: str | None = None
    confidence: float = 0.0
    samples: int = 0
    flow_steps: int = 0
    jumps: int = 0
    posterior: dict[str, float] | None = None
    conflicts: int | None = None
    turns_unfollowed: int | None = None
    unseen_change: float | None = None
    same_pairs: int | None = None
    flicker_pairs: int | None = None  # sampled pairs changed by their light (flicker)


@register
class FaceDetector(Detector):
    """Counts distinct parcel faces held to the camera before the opening, from the
    parcel's turns (geometry) confirmed by how the holds look (appearance)."""

    name = "faces"
    uses = ("waybill", "cuts", "freeze")
    event_kinds = (
        EventKind(
            "flicker",
            "Flickering light",
            "灯光频闪",
            "the light flickers in moving bands from `t_s` (lamps on mains power, seen by "
            "a rolling shutter; `pairs` in details: the sampled pairs of pictures it changed)",
            # A review: under +-5% flicker the flow measures turns short, and the cut
            # detector missed the dev set's removed segment (d05) that it finds in steady
            # light; a take filmed there can be whole, but these methods cannot say.
            reason=KindReason(
                "light_flickers",
                "review",
                "The light flickers in moving bands from {times} (lamps on mains power): "
                "cuts and turns are hard to see in it, so a person should check that the "
                "take is continuous and shows every face.",
                "从 {times} 起画面有滚动的明暗条纹（灯光频闪，来自交流供电的灯）：其中难以"
                "识别剪辑和翻转，请人工确认录像连续且展示了每一个面。",
            ),
            caption="flicker",
            rank=65,
        ),
    )

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.min_hold_s = policy.completeness.min_face_hold_s
        self.next_s = 0.0
        self.since = 0  # frames since the last sampled one
        self.stride = NEVER  # frames from one sample to the next (by time until known)
        self.prev: np.ndarray | None = None  # last sampled picture (160 px, blurred, gray)
        self.prev_small: np.ndarray | None = None  # ... before blurring and stretching
        self.prev_stretch: _Stretch = None  # ... and its stretch
        # whether each of the last sampled pairs changed by its light (flicker)
        self.light_only: deque[bool] = deque(maxlen=FLICKER_PAIRS)
        self.flicker_pairs = 0  # pairs in the whole clip that did
        # the light was seen to flicker (``FLICKER_MIN``) from this sampled picture on
        self.flicker_s: float | None = None
        self.prev_s = 0.0
        self.moving = False
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.turn = _TurnStats()
        self.turns: list[_TurnStats] = []  # turns[k] leads from holds[k] to holds[k + 1]
        self.run: _Run | None = None
        self.holds: list[Hold] = []
        self.masks: deque[np.ndarray] = deque(maxlen=MASK_STEPS)  # last moving regions
        self.pending: tuple[Hold, np.ndarray, np.ndarray] | None = None  # hold, points, mask
        self.box: tuple[float, float, float, float] | None = None  # parcel region, 160 px
        self.dark = DarkEpisodes()
        self.face_luma: deque[float] = deque(maxlen=MAX_FACE_LUMAS)  # parcel luma per hold
        self.samples = 0
        self.flow_steps = 0
        self.saw_motion = False  # the flow measured motion since the last still step
        self.first_s: float | None = None
        self.last_s = 0.0
        self.debug: list[tuple] | None = None  # set to [] to record per-step values
        self.grid: _Grid | None = None  # pixel coordinates of the 160 px picture
        self.still_err: float | None = None  # usual flow-warped difference while still
        self.still_steps = 0
        self.jumps = 0
        self.failed = False  # the last step's flow left the picture unexplained
        self.steps = FrameSteps()  # dropped frames (``validator.detectors.steps``)
        self.rate: np.ndarray | None = None  # the turn's angular velocity at its last step

    # -- sampling ------------------------------------------------------------------------
    def process(self, frame: Frame) -> None:
        if self.first_s is None:
            self.first_s = frame.t_s
        self.last_s = frame.t_s
        self.steps.add(frame.t_s)
        self.since += 1
        # Sampled by frames as well as by time: a browser's recorder stamps frames with
        # the jitter of its capture (steps of 16-55 ms at 30 fps, the e2e take), and a
        # frame stamped early was skipped by time alone, the flow then measuring a quarter
        # turn's fast part over two frames' motion (seen reversed; a turn measured 41
        # degrees, a clean take counted five faces). The frame ``stride`` frames on is
        # due whatever its stamp; a late one (a hole) is due by time (``next_s``).
        if self.since < self.stride and frame.t_s + 1e-6 < self.next_s:
            return
        rate = MOVING_HZ if self.moving else STILL_HZ
        self.next_s = frame.t_s + 1.0 / rate - 0.25 / 60  # tolerate frame-step jitter
        usual = self.steps.usual_s()
        self.stride = NEVER if usual is None else max(1, round(1.0 / (rate * usual)))
        self.since = 0
        self.samples += 1
        small = cv2.cvtColor(frame.color, cv2.COLOR_BGR2GRAY)
        std = float(small.std())
        if std < MIN_DETAIL:  # black or a covered lens: nothing to follow
            self._lose(frame.t_s)
            self.dark.add(frame.t_s, 0.0)
            return
        soft = soften(small)
        g, stretch = flow_picture(soft, std)
        prev, self.prev = self.prev, g
        prev_small, self.prev_small = self.prev_small, small
        prev_stretch, self.prev_stretch = self.prev_stretch, stretch
        prev_s, self.prev_s = self.prev_s, frame.t_s
        if prev is None or prev_small is None or prev.shape != g.shape:
            self._still(frame, None)
            return
        frames = max(1.0, (frame.t_s - prev_s) * 30.0)  # steps in 1/30 s units
        seen = self._in_last_light(prev, prev_small, prev_stretch, small, soft, std, g)
        omega, doubtful, suspect = self._measure(prev, seen, frames)
        if omega is None and doubtful:  # a jump: the pose before it says nothing of after
            self.jumps += 1
            self._lose(frame.t_s)
            self.prev, self.prev_small, self.prev_stretch = g, small, stretch
            self.prev_s = frame.t_s
            self._still(frame, None)
            return
        if omega is None:
            self.rate = None
            self._still(frame, None)
            return
        rate_deg_s = float(np.degrees(np.linalg.norm(omega))) / max(1e-3, frame.t_s - prev_s)
        if self.debug is not None:
            self.debug.append((round(frame.t_s, 2), np.degrees(omega).round(1), doubtful))
        if rate_deg_s < TURN_DEG_S and not suspect:
            self.rate = None
            self._still(frame, omega)
            return
        # A step across a few frames the camera dropped (``validator.detectors.steps``):
        # the flow follows only part of what turned in the missing time (a generated clean
        # take with 2-6 frames dropped mid-turn measured its last quarter turn as ~50
        # degrees and miscounted). Where the step turns the way the turn was going, it is
        # lengthened along its own direction to the turn's last angular velocity times
        # the step's time, by at most ``FILL_MAX_DEG``: a hand turning a parcel does not
        # stop within a tenth of a second. A step that turns another way (a wobble
        # reversing) is kept as measured. The step is doubtful either way.
        step_s = frame.t_s - prev_s
        if self.rate is not None and self.steps.spanned(step_s, 1.0 / MOVING_HZ) > 1.0:
            measured = float(np.linalg.norm(omega))
            speed = float(np.linalg.norm(self.rate))
            filled = speed * step_s
            along = float(np.dot(self.rate, omega)) / max(1e-9, measured * speed)
            if along >= FILL_ALONG and filled > measured:
                omega = omega * (min(filled, measured + np.radians(FILL_MAX_DEG)) / measured)
            doubtful = True
            self.rate = None  # one step filled from it; the next measured one renews it
        elif doubtful or suspect or self.failed:
            self.rate = None  # a pan, a jump or a failed flow is no velocity to carry on
        else:
            self.rate = omega / max(1e-3, step_s)
        self._dark_share(frame, self._region(frame.color), table_luma(frame.gray))
        self.turn.suspects += int(suspect)
        self.turn.failed += int(self.failed)
        self._turning(frame.t_s, omega, doubtful or rate_deg_s > FAST_DEG_S)

    def _dark_share(self, frame: Frame, region: np.ndarray, ref: float) -> float:
        """Share of the parcel region darker than the inside's threshold: ``DARK_TABLE`` of
        the table's luma ``ref`` until a face was held, then ``DARK_FACES`` of the faces'
        (median over the holds so far), at most ``DARK_TABLE_HELD`` of the table's."""
        gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
        level = DARK_TABLE * ref
        if self.face_luma:
            level = min(DARK_FACES * float(np.median(self.face_luma)), DARK_TABLE_HELD * ref)
        # The inside is a dark area, print is thin: strokes, bars and a label's header
        # band narrower than ``PRINT_PX`` are opened away (a barcode filling the centre of
        # an 80 % parcel on a light desk read as 43 % "dark", an opened box).
        mask = cv2.morphologyEx((gray < level).astype(np.uint8), cv2.MORPH_OPEN, _PRINT_KERNEL)
        dark = float(np.count_nonzero(mask)) / gray.size if level > 0 else 0.0
        self.dark.add(frame.t_s, dark)
        return dark

    @property
    def flickers(self) -> bool:
        """The light was seen to flicker (``flicker_s``)."""
        return self.flicker_s is not None

    def _in_last_light(
        self,
        prev: np.ndarray,
        prev_small: np.ndarray,
        prev_stretch: _Stretch,
        small: np.ndarray,
        soft: np.ndarray,
        std: float,
        g: np.ndarray,
    ) -> np.ndarray:
        """The picture ``g`` to compare with ``prev``: itself, or, where the light
        flickers, relit row by row to ``prev``'s light (``FLICKER_PAIRS``)."""
        if not changed(prev, g):  # nothing to explain (and to relight)
            self.light_only.append(False)
            return g
        rows = row_light(prev_small, small)
        if float(rows.max() - rows.min()) < ROW_LIGHT_MIN:
            self.light_only.append(False)
            return g  # no row's light changed: nothing to relight, flicker or not
        before = soften(prev_small)
        was = float(cv2.absdiff(soft, before).mean())
        # Relighting moves each pixel by its level times its row's gain less one, and
        # blurring does not add to the mean of that: a pair it cannot bring below
        # LIGHT_SHARE of its difference even so is not relit for the test (most moving
        # pairs; a quarter more of the faces detector's time otherwise). The bound is
        # loosened by a quarter and half a level for blurring's borders and rounding.
        most = float(np.abs(np.expm1(-rows)) @ small.mean(axis=1)) / len(rows)
        possible = was >= LIGHT_DIFF_GRAY and 1.25 * most + 0.5 >= (1 - LIGHT_SHARE) * was
        light_only = False
        relit = None
        if possible or self.flickers:
            relit = soften(relight_rows(small, rows))
            now = float(cv2.absdiff(relit, before).mean())
            light_only = was >= LIGHT_DIFF_GRAY and now <= LIGHT_SHARE * was
        self.light_only.append(light_only)
        self.flicker_pairs += int(light_only)
        # Lamps do not stop flickering: once seen, for the rest of the take (a turn's
        # pairs, all moving, would otherwise end it just as the next face is held).
        if not self.flickers and sum(self.light_only) >= FLICKER_MIN:
            self.flicker_s = self.prev_s
        if self.flickers and relit is not None:
            return flow_picture(relit, std, prev_stretch)[0]
        return g

    def _measure(self, prev: np.ndarray, g: np.ndarray, frames: float):
        """The parcel's rotation in this step (None: it did not move), whether the step
        is doubtful (the camera swept fast; with no rotation: the picture jumped), and
        whether it is a suspected jump (a change no flow explains)."""
        flow = None
        relx = rely = None
        suspect = False
        if not self.moving:  # cheap gate: does anything move against the table?
            if not changed(prev, g):
                return None, False, False  # nothing changed: no camera, no parcel motion
            res = self.dis.calc(prev, g, None)
            if self._jump_like(prev, g, res):
                # A change the cheap flow does not explain: a cut, or a sudden start of
                # motion. Farneback's flow tells most starts; a step it cannot explain
                # either is a suspect, judged by what follows (``_TurnStats.jumped``).
                flow = cv2.calcOpticalFlowFarneback(prev, g, None, *FARNEBACK)
                suspect = self._jump_like(prev, g, flow)
            else:
                self._learn_still(prev, g, res)
                cam = camera_fit(res, self._grid(g))
                # The camera moved (a pan, a zoom): the picture changes, seen by the flow.
                corner = float(np.hypot(*g.shape)) / 2
                if np.hypot(cam[0], cam[1]) + np.hypot(cam[2], cam[3]) * corner > CAMERA_PX:
                    self.saw_motion = True
                res = camera_residual(res, cam, self._grid(g))
                raw = np.hypot(res[..., 0], res[..., 1])
                if not self._moves(raw > MOVE_PX, raw, frames):
                    return None, False, False  # (trusted components move less still)
                relx, rely = reliable_directions(prev)
                mag = np.hypot(np.where(relx, res[..., 0], 0.0), np.where(rely, res[..., 1], 0.0))
                if not self._moves(mag > MOVE_PX, mag, frames):
                    return None, False, False
        # The parcel moves: measure it with Farneback's flow, whose speeds are calibrated.
        self.flow_steps += 1
        self.saw_motion = True
        if flow is None:
            flow = cv2.calcOpticalFlowFarneback(prev, g, None, *FARNEBACK)
        grid = self._grid(g)
        cam = camera_fit(flow, grid)
        res = camera_residual(flow, cam, grid)
        if relx is None or rely is None:
            relx, rely = reliable_directions(prev)
        mag = np.hypot(np.where(relx, res[..., 0], 0.0), np.where(rely, res[..., 1], 0.0))
        moving = mag > MOVE_PX
        if not self._moves(moving, mag, frames):
            self.moving = False
            return (None, True, True) if suspect else (None, False, False)
        self.moving = True
        region = np.hypot(res[..., 0], res[..., 1]) > MOVE_PX
        omega, box = step_rotation(res, moving, region | moving, relx, rely)
        if omega is None:
            return (None, True, True) if suspect else (None, False, False)
        pan = float(np.hypot(cam[0], cam[1])) / frames > PAN_PX
        # A flick too fast for the flow (blurred, far between frames) leaves the picture
        # unexplained: the flow-warped difference stays high.
        # So is a parcel too small in the picture for its flow to tell a turn's angle.
        small = max(box[2] - box[0], box[3] - box[1]) < MIN_PARCEL_PX
        self.failed = small or self._warp_error(prev, g, flow) > FLOW_FAIL_GRAY
        self.box = box
        if not pan:  # a fast sweep of the camera smears the table into the moving region
            self.masks.append(region)
            self._fill_pending(region)
        return omega, pan, suspect

    def _grid(self, g: np.ndarray) -> _Grid:
        if self.grid is None or self.grid.shape != g.shape:
            self.grid = _Grid(*g.shape)
        return self.grid

    def _warp_error(self, prev: np.ndarray, g: np.ndarray, flow: np.ndarray) -> float:
        """Mean difference (gray levels) of the picture from the last one moved by ``flow``."""
        grid = self._grid(g)
        warped = cv2.remap(
            g,
            grid.gx + flow[..., 0],
            grid.gy + flow[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return float(cv2.absdiff(warped, prev).mean())

    def _jump_like(self, prev: np.ndarray, g: np.ndarray, flow: np.ndarray) -> bool:
        """The picture changed in a way the flow does not explain (a cut, the end of a
        frozen stretch, a new take): over ``JUMP_GRAY`` and ``JUMP_FACTOR`` times the
        usual level of still steps."""
        level = self.still_err
        if level is None:
            return False
        err = self._warp_error(prev, g, flow)
        return err > JUMP_GRAY and err > JUMP_FACTOR * level

    def _learn_still(self, prev: np.ndarray, g: np.ndarray, flow: np.ndarray) -> None:
        self.still_steps += 1
        if self.still_err is not None and self.still_steps % LEARN_EVERY:
            return
        err = self._warp_error(prev, g, flow)
        level = self.still_err
        self.still_err = err if level is None else level + JUMP_EMA * (err - level)

    @staticmethod
    def _moves(moving: np.ndarray, mag: np.ndarray, frames: float) -> bool:
        n = int(moving.sum())
        return (
            n > 30
            and n > MOVE_SHARE * moving.size
            and float(np.median(mag[moving])) > MOVE_MEDIAN_PX * frames**0.5
        )

    def _turning(self, t_s: float, omega: np.ndarray, doubtful: bool) -> None:
        run, self.run = self.run, None
        if run is not None and run.hold is not None:
            self._end_hold(run)
        elif run is not None:
            self._absorb(run)  # too short to be a hold: part of the turn
        if self.turn.steps == 0:
            self.turn.start_s = t_s
        self.turn.rotation = exp_so3(omega) @ self.turn.rotation
        self.turn.steps += 1
        self.turn.doubtful += int(doubtful)

    def _absorb(self, run: _Run) -> None:
        """A still run too short for a hold: its time belongs to the turn around it."""
        self.turn.steps += 1

    def _still(self, frame: Frame, omega: np.ndarray | None) -> None:
        """A step without rotation: extend the current run, and make it a hold once long."""
        if omega is not None:  # slow drift still counts toward the orientation
            self.turn.rotation = exp_so3(omega) @ self.turn.rotation
        region = self._region(frame.color)
        ref = table_luma(frame.gray)
        dark = self._dark_share(frame, region, ref)
        run = self.run
        desc = None
        if run is None or run.n % DESC_EVERY == 0:
            gain = min(MAX_GAIN, TABLE_LUMA / ref) if ref > 0 else 1.0
            desc = descriptor(region if gain <= 1.2 else cv2.convertScaleAbs(region, alpha=gain))
        if run is None:
            assert desc is not None
            self.run = _Run(frame.t_s, frame.t_s, desc.copy(), dark)
            self._snap(self.run, frame.t_s)
            return
        run.last_s = frame.t_s
        run.moved |= self.saw_motion
        self.saw_motion = False
        if not run.snaps or frame.t_s - run.snaps[-1][0] >= SNAP_S - 1e-6:
            self._snap(run, frame.t_s)
        run.dark_sum += dark
        run.n += 1
        if desc is not None:
            run.desc_sum += desc
            run.n_desc += 1
        start = max(self.first_s or 0.0, run.start_s - 0.5 / STILL_HZ)
        if run.hold is None and frame.t_s + 0.5 / STILL_HZ - start + 1e-6 >= self.min_hold_s:
            if len(self.holds) >= MAX_HOLDS:
                return
            run.hold = Hold(start, frame.t_s, run.desc_sum / run.n_desc, run.n, dark)
            run.hold.snaps = run.snaps
            self.face_luma.append(float(np.median(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY))))
            self._features(run.hold, frame)
            self.holds.append(run.hold)
            self.turns.append(self.turn)
            self.turn = _TurnStats()

    def _lose(self, t_s: float) -> None:
        """The picture shows nothing or jumped: end the hold; the turn around it is not
        followed."""
        run, self.run = self.run, None
        if run is not None and run.hold is not None:
            self._end_hold(run)
        self.turn.lost = True
        self.prev = self.prev_small = None
        self.moving = False
        self.rate = None

    def _snap(self, run: _Run, t_s: float) -> None:
        if self.prev is None or len(self.holds) >= MAX_FUSED_HOLDS or len(run.snaps) >= MAX_SNAPS:
            return
        h, w = self.prev.shape
        small = cv2.resize(self.prev, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        run.snaps.append((t_s, small, run.moved))
        run.moved = False

    def _end_hold(self, run: _Run) -> None:
        h = run.hold
        assert h is not None
        h.end_s = run.last_s + 0.5 / STILL_HZ
        h.desc = run.desc_sum / run.n_desc
        h.dark = run.dark_sum / run.n
        h.samples = run.n

    def _region(self, color: np.ndarray) -> np.ndarray:
        """The parcel's region of the 160 px picture: where it last moved, else the centre."""
        hgt, wid = color.shape[:2]
        if self.box is None:
            cw, ch = max(4, round(wid * CENTRE)), max(4, round(hgt * CENTRE))
            x0, y0 = (wid - cw) // 2, (hgt - ch) // 2
            return color[y0 : y0 + ch, x0 : x0 + cw]
        x0, y0, x1, y1 = self.box
        x0, x1 = int(max(0, x0)), int(min(wid, max(x0 + 4, x1)))
        y0, y1 = int(max(0, y0)), int(min(hgt, max(y0 + 4, y1)))
        return color[y0:y1, x0:x1]

    # -- appearance ----------------------------------------------------------------------
    def _features(self, hold: Hold, frame: Frame) -> None:
        """ORB features of the parcel at about ``APPEAR_PX`` px, from the full picture.

        Kept where the parcel moved just before the hold; those of the first hold
        (nothing moved yet) wait for the next turn's outline (``_fill_pending``).
        """
        small_h, small_w = frame.color.shape[:2]
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            share = max((x1 - x0) / small_w, (y1 - y0) / small_h, 0.05)
        else:
            share = 0.5
        long_side = int(min(4096, max(320, APPEAR_PX / share)))
        gray = frame.hires(long_side) if frame.hires is not None else frame.gray
        scale = float(max(gray.shape))
        if self.masks:
            outline = np.logical_or.reduce(list(self.masks))
            mask = cv2.resize(
                cv2.dilate(outline.astype(np.uint8), np.ones((3, 3), np.uint8)),
                (gray.shape[1], gray.shape[0]),
                interpolation=cv2.INTER_NEAREST,
            )
            points, feats = orb_features(gray, mask * 255)
            hold.points, hold.features, hold.scale = points, feats, scale
            self.masks.clear()
            return
        points, feats = orb_features(gray, np.full(gray.shape, 255, np.uint8))
        hold.points, hold.features, hold.scale = points, feats, scale
        small = (points * (small_w / gray.shape[1])).astype(int)
        self.pending = (hold, small, np.zeros((small_h, small_w), bool))

    def _fill_pending(self, region: np.ndarray) -> None:
        """Outline the first hold's parcel with the next turn's moving region."""
        if self.pending is None:
            return
        acc = self.pending[2]
        acc |= region
        if self.turn.steps + 1 < MASK_STEPS:
            return
        self._apply_pending()

    def _apply_pending(self) -> None:
        if self.pending is None:
            return
        hold, small, acc = self.pending
        self.pending = None
        if hold.features is None or hold.points is None or not acc.any():
            return
        acc = cv2.dilate(acc.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        h, w = acc.shape
        xs = np.clip(small[:, 0], 0, w - 1)
        ys = np.clip(small[:, 1], 0, h - 1)
        keep = acc[ys, xs]
        hold.points, hold.features = hold.points[keep], hold.features[keep]

    # -- results ------------------------------------------------------------------------
    def interim_count(self) -> int:
        """Distinct faces among the holds completed so far, for live guidance while a
        recording arrives (``validator.live``): ``finish``'s fusion of turns and looks,
        without what only the end knows (the opening, the cuts, the waybill's spans).
        Changes no state; the hold in progress counts once it ends."""
        before = self.holds[:MAX_FUSED_HOLDS]
        if not before:
            return 0
        turns = []
        for k in range(1, len(before)):
            st = self.turns[k]
            if not st.followed:
                turns.append(Turn(None, SIGMA_DEG))
                continue
            share = st.doubtful / max(1, st.steps)
            turns.append(Turn(st.rotation, SIGMA_DEG * (1.0 + (UNRELIABLE_SIGMA - 1.0) * share)))
        same, different = self._appearance(before, None)
        return min(MAX_FACES, fuse(turns, same, different).count)

    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        run, self.run = self.run, None
        if run is not None and run.hold is not None:
            self._end_hold(run)
        self._apply_pending()
        up = upstream or {}
        opening = find_opening(self.holds, self.dark.episodes(), MERGE_DISTANCE, distance)
        opened = opening.opened_at_s
        # A hold counts when it was held long enough before the opening (the last pose
        # often lasts into the opening: the top face, held while the tape is cut).
        n_before = sum(
            1 for h in self.holds if opened is None or h.start_s + self.min_hold_s <= opened + 1e-6
        )
        n_before = min(n_before, MAX_FUSED_HOLDS)
        before = self.holds[:n_before]
        metrics = FaceMetrics(
            opened_at_s=None if opened is None else round(opened, 2),
            starts_open=opening.starts_open,
            opening_t_s=None if opening.seen_at_s is None else round(opening.seen_at_s, 2),
            holds=[
                {
                    "start_s": round(h.start_s, 2),
                    "end_s": round(h.end_s, 2),
                    "dark": round(h.dark, 2),
                }
                for h in self.holds[:60]
            ],
            samples=self.samples,
            flow_steps=self.flow_steps,
            jumps=self.jumps,
            flicker_pairs=self.flicker_pairs,
        )
        if not before:
            # No pose held before a seen opening: none was shown (a video that starts
            # open). No pose held and no opening seen: nothing could be counted.
            seen = opened is not None
            metrics = replace(
                metrics,
                count=0,
                shown=[],
                confidence=1.0 if seen else 0.0,
                established=seen,
                why=None if seen else "no_holds",
            )
            return Findings(self._flicker_events(), metrics)
        # Every event of these two detectors breaks the picture (a cut, a possible cut, a
        # zoom step, a freeze): a turn across one was not followed.
        breaks = [
            (e.t_s, e.t_s + (e.length_s or 0.0))
            for name in ("cuts", "freeze")
            if name in up
            for e in up[name].events
        ]
        turns = []
        for k in range(1, len(before)):
            st = self.turns[k]
            a, b = before[k - 1].end_s, before[k].start_s
            if not st.followed or _overlaps(a, b, breaks):
                turns.append(Turn(None, SIGMA_DEG))
                continue
            share = st.doubtful / max(1, st.steps)
            turns.append(Turn(st.rotation, SIGMA_DEG * (1.0 + (UNRELIABLE_SIGMA - 1.0) * share)))
        same, different = self._appearance(before, up.get("waybill"))
        fused = fuse(turns, same, different)
        shown: list[dict[str, Any]] = []
        for face in dict.fromkeys(fused.faces):  # faces in the order first shown
            group = [h for h, f in zip(before, fused.faces, strict=True) if f == face]
            start, end = first_visit(group)
            shown.append(
                {
                    "face": len(shown) + 1,
                    "t_s": round(0.5 * (start + end), 2),
                    "held_s": round(sum(h.length_s for h in group), 2),
                    "holds": len(group),
                }
            )
        unfollowed = sum(1 for t in turns if t.rotation is None)
        # Strong "same face" matches the best sequence overrides (two faces with one print,
        # two alike labels, plain kraft) matter when obeying them would change the count.
        conflict = False
        if fused.conflicts:
            kept = self_consistent(same, different, lambda i, j: match(before[i], before[j])[1])
            obey = {pair: OBEY_NATS for pair in kept}
            conflict = fuse(turns, obey, different).count != fused.count
        # Geometry decides: a count resting mostly on turns it could not follow is not one.
        followed = unfollowed <= MAX_UNFOLLOWED_SHARE * len(turns)
        # A cut inside what looked like one hold (a cross-dissolve is gradual: the flow
        # sees no motion while one face fades into another) joins two poses no turn
        # relates: the count across it is not established either.
        followed = followed and not any(_overlaps(h.start_s, h.end_s, breaks) for h in before)
        # ... and neither is one whose holds changed while the flow saw nothing move.
        until_s = None if opened is None else opened - 0.5
        unseen = max(unseen_change(h.snaps, until_s) for h in before)
        # It matters only where it could hide a face: a count under six (a full count
        # stands; the dev set's zoom toward the opening changes 0.6-1.0 % unseen).
        hidden = unseen > UNSEEN_SHARE and fused.count < MAX_FACES
        # Under flickering light the flow measures turns short (dev set d03 relit: a
        # quarter turn read as 32 degrees, five faces counted of six): a count under six
        # is left to a person there; a full count stands.
        flickered = self.flickers and fused.count < MAX_FACES
        # One pose all along before the opening rests on no turn at all: a parcel never
        # turned gives that, and so does one too small for the flow to see turning (3-8 %
        # of the frame, above) whose faces also look alike at 80 px, where ``unseen``
        # stays small (the generated 3 % printed parcel on a stand: 0.2 % changed unseen,
        # six faces shown, one counted). No truth of any source has such a count.
        one_pose = len(before) == 1  # a count of one, under six
        established = (
            fused.confidence >= ESTABLISHED
            and not conflict
            and followed
            and not hidden
            and not flickered
            and not one_pose
        )
        why = None
        if not established:
            why = (
                "looks_conflict"
                if conflict
                else "unfollowed"
                if not followed
                else "unseen_turns"
                if hidden
                else "flicker"
                if flickered
                else "one_pose"
                if one_pose
                else "turns_unsure"
            )
        metrics = replace(
            metrics,
            count=min(MAX_FACES, fused.count),
            shown=shown[:MAX_FACES],
            confidence=round(fused.confidence, 3),
            established=established,
            why=why,
            posterior={str(c): round(p, 3) for c, p in sorted(fused.posterior.items())},
            conflicts=fused.conflicts,
            turns_unfollowed=unfollowed,
            unseen_change=round(unseen, 4),
            jumps=self.jumps
            + sum(1 for st in self.turns[1 : len(before)] if st.suspects and not st.followed),
            same_pairs=len(same),
        )
        return Findings(self._flicker_events(), metrics)

    def _flicker_events(self) -> list[Event]:
        if self.flicker_s is None:
            return []
        details = {"pairs": self.flicker_pairs}
        return [Event("flicker", round(self.flicker_s, 3), detector=self.name, details=details)]

    def _appearance(
        self, holds: list[Hold], waybill: Findings | None
    ) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
        """Log-likelihood weights that two holds show one face / two faces."""
        same: dict[tuple[int, int], float] = {}
        different: dict[tuple[int, int], float] = {}
        for i in range(len(holds)):
            for j in range(i + 1, len(holds)):
                cells, span = match(holds[i], holds[j])
                if cells >= SAME_CELLS and span >= SAME_SPAN:
                    same[(i, j)] = SAME_NATS
                elif cells >= SAME_CELLS:
                    continue  # a shared print: no evidence either way
                elif cells <= DIFF_CELLS and all(
                    h.features is not None and len(h.features) >= DIFF_MIN_KEYPOINTS
                    for h in (holds[i], holds[j])
                ):
                    different[(i, j)] = DIFF_NEXT_NATS if j == i + 1 else DIFF_NATS
        if waybill is not None:
            spans = waybill.metrics.spans
            together = waybill.metrics.read_together
            for pair in different_labels(holds, spans, together):
                same.pop(pair, None)
                different[pair] = LABEL_NATS
        return same, different
