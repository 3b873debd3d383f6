"""Find 1-D barcode-like regions cheaply on the small analysis frame (320 px).

A 1-D barcode is a patch crowded with parallel edges: nearly every pixel lies
on a strong edge (high edge density) and the edges point one way. That is the
gradient method of barcode localisation (Rosebrock's horizontal-minus-vertical
Scharr energy, made rotation invariant as with the structure tensor in Sörös
and Flörkemeier, "Blur-resistant joint 1D and 2D barcode localization for
smartphones", MUM 2013). Per 4x4 px cell, averaged over 3x3 cells (a 12 px
window):

- edge density: the share of pixels whose Sobel magnitude exceeds an 8-gray-level
  step;
- agreement: each edge pixel votes with its gradient direction as a unit vector
  at twice its angle (opposite gradients agree, as in the structure tensor),
  and agreement is the length of the mean vote, 1 when all edges are parallel.
  Votes count pixels, not gradient energy: on a small label the 320 px frame
  blurs the bars' contrast away, and energy-weighted, the label's few long
  high-contrast edges (a header band, its border) would set its direction.

Cells with both high are joined (morphological closing) into connected regions,
pieces that continue one another along one axis are joined, and each region's
axis is its edge pixels' mean direction (across the bars). Letters, printed
stripes and tape edges pass this test too: the finder only says where reading is
worth a try, and ``reader.read_region`` decides. It costs 0.5-1 ms on a 320x180
frame (``time.thread_time`` on 2 busy shared cores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["CELL_PX", "Region", "find_regions"]

CELL_PX = 4  # cell side in analysis pixels: 80x45 cells on a 320x180 frame
_WINDOW_CELLS = 3  # the statistics are averaged over 3x3 cells: a 12 px window
# A Sobel 3x3 response of 32 is a step of 8 gray levels (the kernel's gain is 4).
# The darkest devset clip (exposure x0.2) still shows its label's bars at
# 30-40 gray levels of contrast, four times this; sensor noise and a plain
# table stay under it.
_EDGE_SOBEL = 32.0
# A window counts as barcode-like when 35% of its pixels are on an edge and
# their directions agree to 0.6. Measured at 320 px (devset 960x540): a label's
# bars give density 0.8-0.9 and agreement 0.9; its printed text 0.4-0.8 and
# 0.0-0.3; a single edge (the label's border) 0.2-0.4 and 0.9. The dim clip
# (exposure x0.2) keeps 0.3-0.7 density on its bars, the reason the floor is low.
_MIN_EDGE_DENSITY = 0.35
_MIN_AGREEMENT = 0.6
# A component over a sixth of the frame is cut again at 80% of its 95th
# percentile density (see ``_components``): measured on the generated clips,
# whose textured table joins the whole frame (density 0.5-0.7) around the
# label's bars (0.9-1.0).
_SPLIT_FRACTION = 1 / 6
_SPLIT_LEVEL = 0.8
_MIN_CELLS = 6  # a region under 6 cells (~100 px^2 at 320 px) holds no readable code
# A barcode is at least half as long (across its bars) as it is high; longer
# runs of parallel edges along one line (a box edge, a stack of text lines) are
# not. Zxing decides in the end; this only saves reads.
_MIN_ASPECT = 0.5
# Two regions are one code broken at its wide bars when their axes differ by 10
# degrees at most, their heights by a factor 1.5 at most (a code's bars are all
# as tall), the second's centre lies within a quarter of the lower height of the
# first's axis, and the gap between them is at most that height. Measured pieces:
# devset d09's dim label, heights 16-20 px and gaps 8-16 px; zxing-cpp
# code128-1/5.png, heights 40 px and a gap of 36 px. Looser (the larger height,
# offsets of half a height), a printed box and the table beside it joined into
# regions across the whole frame (opencv-doc box.mp4).
_JOIN_MAX_TURN_RAD = math.radians(10.0)
_JOIN_MAX_HEIGHTS = 1.5
_JOIN_MAX_OFFSET = 0.25
_JOIN_MAX_GAP = 1.0
_MAX_COMPONENTS = 16  # per frame: bounded work on busy textures


@dataclass(frozen=True, slots=True)
class Region:
    """A barcode-like region in analysis-frame pixels.

    ``cx, cy`` is its centre; ``angle`` the direction across the bars (radians,
    image coordinates, y down; the code's reading axis, up to 180 degrees);
    ``length`` its extent along that axis and ``height`` across it; ``cells``
    the number of 4x4 px cells that make it up.
    """

    cx: float
    cy: float
    length: float
    height: float
    angle: float
    cells: int

    def bbox(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounds ``(x0, y0, x1, y1)`` of the turned rectangle."""
        c, s = abs(math.cos(self.angle)), abs(math.sin(self.angle))
        hw = 0.5 * (self.length * c + self.height * s)
        hh = 0.5 * (self.length * s + self.height * c)
        return self.cx - hw, self.cy - hh, self.cx + hw, self.cy + hh

    def overlap(self, other: Region) -> float:
        """Intersection over union of the two regions' axis-aligned bounds."""
        a, b = self.bbox(), other.bbox()
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0


def _cell_means(img: np.ndarray, cw: int, ch: int) -> np.ndarray:
    a = cv2.resize(img[: ch * CELL_PX, : cw * CELL_PX], (cw, ch), interpolation=cv2.INTER_AREA)
    return cv2.blur(a, (_WINDOW_CELLS, _WINDOW_CELLS))


def _components(
    mask: np.ndarray, split: np.ndarray | None = None
) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """(cells of the component in its box, box x, y, w, h) of a cell mask, largest first.

    With ``split`` (the density map), a component covering more than a sixth of
    the frame is cut again at a higher density: on a busy table the stripes
    join everything into one region, and the label's bars are its densest part.
    """
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    order = sorted(range(1, n), key=lambda i: -int(stats[i, cv2.CC_STAT_AREA]))
    out = []
    for i in order[:_MAX_COMPONENTS]:
        area = int(stats[i, cv2.CC_STAT_AREA])
        if area < _MIN_CELLS:
            break
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        sel = labels[y : y + bh, x : x + bw] == i
        if split is not None and area > _SPLIT_FRACTION * mask.size:
            d = split[y : y + bh, x : x + bw]
            level = _SPLIT_LEVEL * float(np.percentile(d[sel], 95))
            sub = np.zeros_like(mask)
            sub[y : y + bh, x : x + bw] = sel & (d >= level)
            out.extend(_components(sub))
        else:
            out.append((sel, (x, y, bw, bh)))
    return out


def _region(
    sel: np.ndarray, box: tuple[int, int, int, int], vc: np.ndarray, vs: np.ndarray
) -> Region | None:
    """The region of a component, or ``None`` when it is not shaped like a 1-D code."""
    x, y, bw, bh = box
    # the edge pixels' main direction (across the bars), from their summed votes
    k = (slice(y, y + bh), slice(x, x + bw))
    angle = 0.5 * math.atan2(float(vs[k][sel].sum()), float(vc[k][sel].sum()))
    rows, cols = np.nonzero(sel)
    xs = (cols + x + 0.5) * CELL_PX
    ys = (rows + y + 0.5) * CELL_PX
    c, s = math.cos(angle), math.sin(angle)
    u = xs * c + ys * s
    v = -xs * s + ys * c
    length = float(u.max() - u.min()) + CELL_PX
    height = float(v.max() - v.min()) + CELL_PX
    if length < _MIN_ASPECT * height:
        return None
    uc, vc_ = 0.5 * float(u.max() + u.min()), 0.5 * float(v.max() + v.min())
    return Region(uc * c - vc_ * s, uc * s + vc_ * c, length, height, angle, int(sel.sum()))


def find_regions(gray: np.ndarray) -> list[Region]:
    """Barcode-like regions of a small gray uint8 frame, largest first."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 gray image, got {gray.dtype} {gray.shape}")
    h, w = gray.shape
    cw, ch = w // CELL_PX, h // CELL_PX
    if cw < _WINDOW_CELLS or ch < _WINDOW_CELLS:
        return []
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    xx, yy = gx * gx, gy * gy
    m2 = xx + yy
    edges = (m2 >= _EDGE_SOBEL**2).astype(np.float32)
    # each edge pixel votes with its gradient direction as a unit vector at twice
    # its angle (opposite gradients agree): (cos 2t, sin 2t) = (gx^2 - gy^2, 2 gx gy) / |g|^2
    inv = edges / np.maximum(m2, 1.0)
    vc = _cell_means((xx - yy) * inv, cw, ch)
    vs = _cell_means(2.0 * gx * gy * inv, cw, ch)
    density = _cell_means(edges, cw, ch)
    agreement = np.sqrt(vc * vc + vs * vs) / np.maximum(density, 1e-6)
    mask = ((agreement >= _MIN_AGREEMENT) & (density >= _MIN_EDGE_DENSITY)).astype(np.uint8)
    out = [r for sel, box in _components(mask, split=density) if (r := _region(sel, box, vc, vs))]
    return _join_collinear(out)


def _join_collinear(regions: list[Region]) -> list[Region]:
    """Regions that continue one another along a common axis, joined; largest first.

    A code's wide bars and spaces thin out its edges, and a dim or small code
    breaks at them into pieces along its axis (devset d09, zxing-cpp code128-1/5):
    read apart, no piece holds the whole code.
    """
    out = sorted(regions, key=lambda r: -r.cells)
    joined = True
    while joined:
        joined = False
        for i, a in enumerate(out):
            for j in range(i + 1, len(out)):
                if (m := _joined(a, out[j])) is not None:
                    out[i] = m
                    del out[j]
                    joined = True
                    break
            if joined:
                break
    return sorted(out, key=lambda r: -r.cells)


def _joined(a: Region, b: Region) -> Region | None:
    """``a`` and ``b`` as one region if ``b`` lies on ``a``'s axis, close to it; else None."""
    turn = abs((b.angle - a.angle + math.pi / 2) % math.pi - math.pi / 2)
    if turn > _JOIN_MAX_TURN_RAD:
        return None
    low, high = sorted((a.height, b.height))
    if high > _JOIN_MAX_HEIGHTS * low:
        return None
    c, s = math.cos(a.angle), math.sin(a.angle)
    du = (b.cx - a.cx) * c + (b.cy - a.cy) * s
    dv = -(b.cx - a.cx) * s + (b.cy - a.cy) * c
    if abs(dv) > _JOIN_MAX_OFFSET * low:
        return None
    if abs(du) - 0.5 * (a.length + b.length) > _JOIN_MAX_GAP * low:
        return None
    u0 = min(-0.5 * a.length, du - 0.5 * b.length)
    u1 = max(0.5 * a.length, du + 0.5 * b.length)
    v0 = min(-0.5 * a.height, dv - 0.5 * b.height)
    v1 = max(0.5 * a.height, dv + 0.5 * b.height)
    uc, vc = 0.5 * (u0 + u1), 0.5 * (v0 + v1)
    cx, cy = a.cx + uc * c - vc * s, a.cy + uc * s + vc * c
    return Region(cx, cy, u1 - u0, v1 - v0, a.angle, a.cells + b.cells)
