"""Parcel faces shown to the camera, and when the parcel was opened.

Method.

1. Sampling (cheap). ``SAMPLE_HZ`` times a second the parcel region is
   described. The region is a window (``CROP`` of the frame) that starts at
   the centre, where a merchant films the parcel, and moves with the camera:
   the shift of the table since the last sample is measured by phase
   correlation on the frame's four edge strips (``FOLLOW_STRIP``), which a
   turning parcel does not reach, and the window drifts back to the centre
   (``FOLLOW_DECAY``). Each sample gets a colour descriptor (a hue x saturation
   histogram plus three achromatic brightness bins, in HSV, after scaling the
   exposure to ``TABLE_LUMA``; Swain & Ballard, 1991, "Color indexing") and a
   blurred 8x6 gray thumbnail for steadiness, all on the 160 px ``color``
   image. A picture without detail (black, covered lens) is not sampled.

2. Holds. A run of samples whose thumbnail changes little from one sample to
   the next (``STEP_MAX``) and from the run's first sample (``DRIFT_MAX``), and
   whose colours stay near the run's mean (``LOOK_MAX``), is a steady pose. A
   turn, however slow, drifts away from its first pose, so it never forms one
   long run; a run that lasts ``completeness.min_face_hold_s`` (policy) is a
   *hold*. Each hold keeps its span and mean descriptor (a few numbers per
   hold, never frames; at most ``MAX_HOLDS``).

3. Faces. Holds are clustered agglomeratively (average linkage) on the
   descriptors' total-variation distance, merging while the closest pair is
   under ``MERGE_DISTANCE``: two holds of one face (shown twice, or a hold
   broken by a pan) merge, differently coloured faces do not. Holds in which
   the waybill detector read different codes never merge (one label, one
   face; ``different_labels``). A box has six faces: past six clusters the
   closest go on merging (other light, as in a spliced take, splits a face;
   the count is right then, which looks merged may not be). A face's time is
   the middle of its first visit (its first hold and those of the same face
   that follow within ``VISIT_GAP_S``).

4. Opening (``validator.detectors.opening``): the time after which the parcel
   region shows a large dark inside and never again looks like a face held
   before. Faces count only when held before it.

Calibrated on the generated fixtures (``tests/test_faces.py``): steady holds
change the thumbnail by at most 8.4 gray levels a sample, turns by 10.7 or
more; distinct faces differ by 0.45 or more, one face in different holds by
0.05 or less.

Limit: faces are told apart by their look (colour, labels), never by following
the box's rotation. The unprinted faces of a plain brown carton look alike, so
fewer are counted than were shown; the completeness verdict then asks a person
(``faces_indistinct``, review) rather than failing (fixture ``plain-carton``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, register
from validator.detectors.opening import DarkEpisodes, find_opening

SAMPLE_HZ = 10.0
CROP = (0.30, 0.30)  # fraction of width, height kept around the centre
THUMB = (8, 6)  # steadiness thumbnail (w, h), landscape; transposed for portrait
HUE_BINS = 12
SAT_SPLIT = (60, 150)  # saturation: under 60 achromatic, 60-150 muted, over 150 vivid
VAL_BINS = (70, 170)  # achromatic brightness: dark, mid, bright
MIN_CHROMA_V = 50  # pixels darker than this have no reliable hue
STEP_MAX = 9.5  # mean |difference| (gray levels) between consecutive samples of a hold
DRIFT_MAX = 12.0  # ... and between a sample and its hold's first sample
LOOK_MAX = 0.3  # ... and a sample's descriptor from its hold's mean (flaps over a still box)
MERGE_DISTANCE = 0.30  # total-variation distance under which two holds are one face
DARK_RATIO = 0.5  # a pixel darker than this share of the frame's median luma is "dark"
FOLLOW_STRIP = 0.2  # the frame's outer fifths (top, bottom, left, right): the table
FOLLOW_DECAY = 0.97  # the window drifts back to the centre (~3 s time constant at 10 Hz)
FOLLOW_MIN_RESPONSE = 0.05  # phase-correlation peak under which the shift is not trusted
TABLE_LUMA = 90.0  # exposure the colour bins are set for (table luma of the generated clips)
MAX_GAIN = 6.0
VISIT_GAP_S = 0.8  # holds of one face this close are one visit (a pose that drifted, a pan)
MIN_DETAIL = 6.0  # luma std under which the picture shows nothing (black, covered lens)
MAX_FACES = 6  # a box's faces; more distinct looks are one face in other light
MAX_HOLDS = 400  # bounded state on absurd inputs


def crop(img: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The ``CROP`` around the centre moved by ``offset`` (px): the parcel region."""
    h, w = img.shape[:2]
    cw, ch = max(4, round(w * CROP[0])), max(4, round(h * CROP[1]))
    x0 = int(np.clip(round((w - cw) / 2 + offset[0]), 0, w - cw))
    y0 = int(np.clip(round((h - ch) / 2 + offset[1]), 0, h - ch))
    return img[y0 : y0 + ch, x0 : x0 + cw]


def table_luma(gray: np.ndarray) -> float:
    """Median luma of the frame's top and bottom sixths: the table around the parcel."""
    k = max(1, gray.shape[0] // 6)
    return float(np.median(np.concatenate((gray[:k:2, ::2].ravel(), gray[-k::2, ::2].ravel()))))


def descriptor(bgr: np.ndarray) -> np.ndarray:
    """Normalised HSV histogram: ``HUE_BINS`` x 2 saturation levels + 3 achromatic bins."""
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


def thumbnail(gray: np.ndarray) -> np.ndarray:
    size = THUMB if gray.shape[1] >= gray.shape[0] else THUMB[::-1]
    # Blur first: a high-contrast pattern (checks, stripes) shaken by a pixel must not
    # look like a turn; a turn moves whole regions and survives the blur.
    sigma = max(1.0, gray.shape[1] / size[0] / 3)
    t = cv2.GaussianBlur(gray, (0, 0), sigma)
    t = cv2.resize(t, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    return t - float(t.mean())  # auto exposure shifts the mean, not the pose


@dataclass(slots=True)
class Hold:
    """A steady pose of the parcel: its span and mean descriptor."""

    start_s: float
    end_s: float
    desc: np.ndarray
    samples: int
    dark: float  # mean share of dark pixels in the parcel region

    @property
    def mid_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(slots=True)
class _Run:
    start_s: float
    anchor: np.ndarray
    last: np.ndarray
    last_s: float
    desc_sum: np.ndarray
    dark_sum: float = 0.0
    n: int = 0


def cluster(
    holds: list[Hold],
    threshold: float = MERGE_DISTANCE,
    apart: Iterable[tuple[int, int]] = (),
    max_clusters: int | None = None,
) -> list[list[int]]:
    """Average-linkage agglomerative clusters of ``holds`` (lists of hold indices, by time).

    Merges the closest pair while its mean pairwise distance is under ``threshold``;
    the linkage is updated in place (Lance & Williams, 1967), O(n^2) per merge.
    Pairs in ``apart`` (cannot-link constraints, Wagstaff et al., 2001) are never in
    one cluster: their infinite distance carries into every linkage that holds them.
    With ``max_clusters``, merging goes on past ``threshold`` until that many remain.
    """
    max_clusters = len(holds) if max_clusters is None else max_clusters
    n = len(holds)
    members = [[i] for i in range(n)]
    if n < 2:
        return members
    descs = np.stack([h.desc for h in holds])
    d = 0.5 * np.abs(descs[:, None, :] - descs[None, :, :]).sum(axis=2)
    for i, j in apart:
        d[i, j] = d[j, i] = np.inf
    np.fill_diagonal(d, np.inf)
    alive = np.ones(n, bool)
    while alive.sum() > 1:
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[i, j] >= threshold and (alive.sum() <= max_clusters or not np.isfinite(d[i, j])):
            break
        si, sj = len(members[i]), len(members[j])
        row = (si * d[i] + sj * d[j]) / (si + sj)
        d[i], d[:, i] = row, row
        d[i, i] = np.inf
        d[j], d[:, j] = np.inf, np.inf
        alive[j] = False
        members[i] = sorted(members[i] + members[j])
    return sorted((members[k] for k in range(n) if alive[k]), key=lambda g: g[0])


def different_labels(
    holds: list[Hold],
    spans: Mapping[str, list[list[float]]],
    together: Iterable[Sequence[str]] = (),
) -> set[tuple[int, int]]:
    """Pairs of holds that showed different waybill codes and no code in common.

    One face carries one label: holds in which the waybill detector read only
    other codes are other faces, however alike their colours (a label covering
    most of a face makes two faces look the same). Codes ever read on one frame
    (``together``: a label's number and its order code) count as one.
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


@register
class FaceDetector(Detector):
    """Counts distinct parcel faces held to the camera before the opening."""

    name = "faces"
    uses = ("waybill",)

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.min_hold_s = float(policy["completeness.min_face_hold_s"])
        self.next_s = 0.0
        self.run: _Run | None = None
        self.holds: list[Hold] = []
        self.dark = DarkEpisodes()
        self.samples = 0
        self.first_s: float | None = None
        self.last_s = 0.0
        self.offset = (0.0, 0.0)
        self.prev_gray: tuple[np.ndarray, ...] | None = None
        self.windows: list[np.ndarray] | None = None
        self.debug: list[tuple] | None = None  # set to [] to record per-sample values

    # -- sampling ---------------------------------------------------------------
    def process(self, frame: Frame) -> None:
        if self.first_s is None:
            self.first_s = frame.t_s
        self.last_s = frame.t_s
        if frame.t_s + 1e-6 < self.next_s:
            return
        self.next_s = frame.t_s + 1.0 / SAMPLE_HZ - 0.5 / 60  # tolerate frame-step jitter
        self.samples += 1
        if float(frame.gray[::4, ::4].std()) < MIN_DETAIL:
            self._close(frame.t_s)  # black or a covered lens: no parcel to see
            self.dark.add(frame.t_s, 0.0)
            return
        self._follow(frame.color)
        region = crop(frame.color, self.offset)
        gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
        ref = table_luma(frame.gray)
        dark = float(np.count_nonzero(gray < DARK_RATIO * ref)) / gray.size if ref > 0 else 0.0
        self.dark.add(frame.t_s, dark)
        thumb = thumbnail(gray)
        # Normalise exposure to the table's so a dark recording keeps its hues.
        gain = min(MAX_GAIN, TABLE_LUMA / ref) if ref > 0 else 1.0
        desc = descriptor(region if gain <= 1.2 else cv2.convertScaleAbs(region, alpha=gain))
        run = self.run
        step = drift = 0.0
        if run is not None:
            step = float(np.abs(thumb - run.last).mean())
            drift = float(np.abs(thumb - run.anchor).mean())
        if self.debug is not None:
            hs = distance(desc, run.desc_sum / run.n) if run else 0.0
            self.debug.append(
                (round(frame.t_s, 2), round(step, 1), round(drift, 1), round(hs, 2), round(dark, 2))
            )
        steady = step <= STEP_MAX and drift <= DRIFT_MAX
        if run is not None and steady and distance(desc, run.desc_sum / run.n) <= LOOK_MAX:
            run.last, run.last_s = thumb, frame.t_s
            run.desc_sum += desc
            run.dark_sum += dark
            run.n += 1
            return
        self._close(frame.t_s)
        self.run = _Run(frame.t_s, thumb, thumb, frame.t_s, desc.copy(), dark, 1)

    def _follow(self, color: np.ndarray) -> None:
        """Move the parcel window with the camera: the table's shift since the last sample.

        The shift is measured on the frame's four edge strips (``FOLLOW_STRIP``),
        where the table is, by phase correlation: a turning parcel does not pull it.
        """
        gray = cv2.cvtColor(color, cv2.COLOR_BGR2GRAY).astype(np.float32)
        k = max(8, round(gray.shape[0] * FOLLOW_STRIP))
        j = max(8, round(gray.shape[1] * FOLLOW_STRIP))
        # Copies: cv2.phaseCorrelate windows a non-contiguous input in place.
        cur = tuple(np.array(s) for s in (gray[:k], gray[-k:], gray[:, :j], gray[:, -j:]))
        prev, self.prev_gray = self.prev_gray, cur
        ox, oy = self.offset[0] * FOLLOW_DECAY, self.offset[1] * FOLLOW_DECAY
        if prev is not None and prev[0].shape == cur[0].shape and prev[2].shape == cur[2].shape:
            if self.windows is None or self.windows[0].shape != cur[0].shape:
                self.windows = [cv2.createHanningWindow(c.shape[::-1], cv2.CV_32F) for c in cur]
            shifts = [
                cv2.phaseCorrelate(a, b, win)
                for a, b, win in zip(prev, cur, self.windows, strict=True)
            ]
            (dx, dy), response = max(shifts, key=lambda s: s[1])
            if response >= FOLLOW_MIN_RESPONSE:
                ox, oy = ox + dx, oy + dy
        h, w = gray.shape
        self.offset = (float(np.clip(ox, -w / 3, w / 3)), float(np.clip(oy, -h / 3, h / 3)))

    def _close(self, now_s: float) -> None:
        run, self.run = self.run, None
        if run is None or len(self.holds) >= MAX_HOLDS:
            return
        # The pose holds until the sample that broke it: half a sample step beyond the last.
        end = min(now_s, run.last_s + 0.5 / SAMPLE_HZ)
        start = max(self.first_s or 0.0, run.start_s - 0.5 / SAMPLE_HZ)
        if end - start + 1e-6 < self.min_hold_s:
            return
        self.holds.append(Hold(start, end, run.desc_sum / run.n, run.n, run.dark_sum / run.n))

    # -- results ----------------------------------------------------------------
    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        self._close(self.last_s + 1.0 / SAMPLE_HZ)
        opening = find_opening(self.holds, self.dark.episodes(), MERGE_DISTANCE, distance)
        opened = opening.opened_at_s
        before = [h for h in self.holds if opened is None or h.end_s <= opened + 1e-6]
        waybill = (upstream or {}).get("waybill")
        spans = waybill.metrics.get("spans", {}) if waybill is not None else {}
        together = waybill.metrics.get("read_together", []) if waybill is not None else []
        # A box has six faces: more clusters than that are one face split by a change
        # of light or camera (a spliced take), so the closest are merged.
        apart = different_labels(before, spans, together)
        groups = cluster(before, apart=apart, max_clusters=MAX_FACES)
        shown = []
        for n, g in enumerate(groups, start=1):
            start, end = first_visit([before[i] for i in g])
            shown.append(
                {
                    "face": n,
                    "t_s": round(0.5 * (start + end), 2),
                    "held_s": round(sum(before[i].length_s for i in g), 2),
                    "holds": len(g),
                }
            )
        return Findings(
            [],
            {
                "count": len(shown),
                "shown": shown,
                "opened_at_s": None if opened is None else round(opened, 2),
                "starts_open": opening.starts_open,
                "opening_t_s": None if opening.seen_at_s is None else round(opening.seen_at_s, 2),
                "holds": [
                    {
                        "start_s": round(h.start_s, 2),
                        "end_s": round(h.end_s, 2),
                        "dark": round(h.dark, 2),
                    }
                    for h in self.holds[:60]
                ],
                "samples": self.samples,
            },
        )
