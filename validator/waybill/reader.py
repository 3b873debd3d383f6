"""Read waybill barcodes (Code 128) and QR codes from one gray frame with zxing-cpp.

Two passes over a frame the decode loop hands over (about 1280 px long side):

1. zxing-cpp on the whole frame, restricted to the waybill formats. Its own
   options do the search: ``try_rotate`` (codes turned 90/270 degrees; 180 comes
   free for 1-D codes and QR codes are rotation invariant), ``try_downscale``
   (large codes, and small sample images scaled up) and ``try_invert`` (light on
   dark). Text is zxing's ``TextMode.Plain``: the symbol's data as encoded, so
   GS1 data keeps its GS (FNC1) separators, as zxing-cpp's own tests expect.
2. With ``try_rotations``, a deskew pass for 1-D codes at any angle. zxing-cpp
   scans 1-D codes along rows and columns only, so a flat waybill barcode tilted
   more than about 15 degrees is missed (we measured this on synthetic frames).
   OpenCV's ``cv2.barcode.BarcodeDetector`` finds 1-D code regions at any angle
   (gradient coherence; run at 3/8 resolution, where it costs about 3 ms); each
   region zxing did not already read is cut out, turned level and read again.
   Regions that still do not decode are counted as ``unread_regions``: a sign a
   code was on camera but too small, blurred or cut off.

``read_region`` reads one region found on the 320 px analysis frame
(``validator.waybill.regions``) on a crop of the full-resolution frame, turned
level and upscaled to about 640 px: the waybill detector's dense reads, 1-3 ms.
On real footage it reads thin modules the whole-frame passes miss (devset: a
label with 1.6 px modules at 960x540, read on every sampled frame of its hold by
the crops and on none by the whole-frame passes).

Cost per 1280x720 frame, measured on 2 busy shared cores (best of 5 runs; rerun
with ``python benchmarks/bench_waybill.py``): pass 1 takes 2-5 ms with Code 128 +
QR against 8-30 ms with all formats (frames with and without a code); pass 2
adds about 5 ms, so the default reader costs 7-10 ms a frame.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import zxingcpp

from validator.waybill.regions import Region

__all__ = [
    "ALL_FORMATS",
    "DEFAULT_FORMATS",
    "MIN_CODE_PX",
    "CodeRead",
    "Scan",
    "read_codes",
    "read_region",
    "scan",
]

log = logging.getLogger(__name__)

#: Waybills in China are Code 128, sometimes QR. zxing-cpp's "QRCode" is the family:
#: QR Model 1 and 2, Micro QR and rMQR.
DEFAULT_FORMATS: tuple[str, ...] = ("Code128", "QRCode")
#: Every format zxing-cpp reads (for measurements; pass 1 costs 3-6x the default).
ALL_FORMATS: tuple[str, ...] = ("All",)

_DETECT_SCALE = 0.375  # 480 px wide for a 1280 px frame: ~3 ms instead of ~5 ms at 0.5, and the
# same recall on synthetic codes of >= 2 px a module at every angle (0.25 lost some at 2 px)
_MAX_REGIONS = 4  # a label carries one or two 1-D codes; more regions are texture
_MIN_REGION_PX = 24  # shorter than this (full resolution) cannot hold a tracking number
_QUIET = 1.2  # widen a region by 20% (+16 px): the detector trims the quiet zones
_MIN_SIDE = 8  # images thinner than this hold no readable code (and upset OpenCV)

Point = tuple[int, int]


@dataclass(frozen=True, slots=True)
class CodeRead:
    """One decoded code in one frame.

    ``position`` is the code's corners (top-left, top-right, bottom-right,
    bottom-left as zxing-cpp reports them) in pixels of the image read;
    ``orientation`` is degrees, clockwise, of the code's top edge (zxing's
    convention). ``format`` is zxing-cpp's format name ("Code128", "QRCode",
    "MicroQRCode", "RMQRCode", ...).
    """

    text: str
    format: str
    position: tuple[Point, Point, Point, Point]
    orientation: int
    symbology_identifier: str = ""

    def area(self) -> float:
        """Area of the code's quadrilateral in pixels (shoelace formula)."""
        p = self.position
        s = 0.0
        for i in range(4):
            x1, y1 = p[i]
            x2, y2 = p[(i + 1) % 4]
            s += x1 * y2 - x2 * y1
        return abs(s) / 2.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "format": self.format,
            "position": [list(p) for p in self.position],
            "orientation": self.orientation,
            "symbology_identifier": self.symbology_identifier,
        }


@dataclass(frozen=True, slots=True)
class Scan:
    """What one frame gave: decoded codes, and 1-D code regions that did not decode."""

    codes: tuple[CodeRead, ...]
    unread_regions: int = 0


@cache
def _formats(names: tuple[str, ...]) -> zxingcpp.BarcodeFormats:
    # from a list, not ``a | b``: zxing-cpp 3 deprecates the | operator on formats
    members = zxingcpp.BarcodeFormat.__members__
    unknown = [n for n in names if n not in members]
    if unknown or not names:
        raise ValueError(f"unknown barcode formats {unknown or names!r}; known: {sorted(members)}")
    return zxingcpp.BarcodeFormats([members[n] for n in names])


_tls = threading.local()


def _region_detector() -> Any | None:
    # one detector per thread: OpenCV objects are not documented as thread-safe
    det = getattr(_tls, "detector", None)
    if det is None and hasattr(cv2, "barcode"):
        det = cv2.barcode.BarcodeDetector()
        _tls.detector = det
    return det


def _from_zxing(b: Any, transform: np.ndarray | None = None) -> CodeRead:
    p = b.position
    pts = np.array(
        [
            [p.top_left.x, p.top_left.y],
            [p.top_right.x, p.top_right.y],
            [p.bottom_right.x, p.bottom_right.y],
            [p.bottom_left.x, p.bottom_left.y],
        ],
        dtype=np.float64,
    )
    if transform is None:
        orientation = int(b.orientation)
    else:
        pts = cv2.transform(pts[None], transform)[0]
        dx, dy = pts[1] - pts[0]
        orientation = round(math.degrees(math.atan2(dy, dx)))
    quad = tuple((round(float(x)), round(float(y))) for x, y in pts)
    return CodeRead(
        text=b.text,
        format=b.format.name,
        position=quad,  # type: ignore[arg-type]
        orientation=orientation,
        symbology_identifier=b.symbology_identifier,
    )


def _linear_regions(gray: np.ndarray) -> list[np.ndarray]:
    """Quadrilaterals (4x2, full-resolution pixels) of 1-D code-like regions, largest first."""
    det = _region_detector()
    if det is None:
        return []
    small = cv2.resize(gray, None, fx=_DETECT_SCALE, fy=_DETECT_SCALE, interpolation=cv2.INTER_AREA)
    try:
        ok, pts = det.detect(small)
    except cv2.error as e:  # odd sizes; the region pass is an extra, never a reason to fail
        log.debug("barcode region detector failed: %s", e)
        return []
    if not ok or pts is None:
        return []
    quads = [np.asarray(q, dtype=np.float32).reshape(4, 2) / _DETECT_SCALE for q in pts]
    quads.sort(key=lambda q: -abs(cv2.contourArea(q)))
    return quads[:_MAX_REGIONS]


def _covered(region: np.ndarray, reads: Sequence[CodeRead]) -> bool:
    """Whether a pass-1 read lies in this region (then it needs no second look)."""
    for r in reads:
        cx = sum(p[0] for p in r.position) / 4.0
        cy = sum(p[1] for p in r.position) / 4.0
        if cv2.pointPolygonTest(region, (cx, cy), False) >= 0:
            return True
        if (
            cv2.pointPolygonTest(np.array(r.position, dtype=np.float32), _centre(region), False)
            >= 0
        ):
            return True
    return False


def _centre(q: np.ndarray) -> tuple[float, float]:
    return float(q[:, 0].mean()), float(q[:, 1].mean())


def _read_region(gray: np.ndarray, region: np.ndarray, try_invert: bool) -> list[CodeRead]:
    (cx, cy), (w, h), angle = cv2.minAreaRect(region)
    if w < h:  # make the long side horizontal: a 1-D code's bars then stand upright
        w, h, angle = h, w, angle + 90.0
    if w < _MIN_REGION_PX:
        return []
    long_side = max(gray.shape)
    out_w = int(min(w * _QUIET + 16, 1.5 * long_side))
    out_h = int(min(max(h * 1.3, 24.0), 1.5 * long_side))
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    m[0, 2] += out_w / 2.0 - cx
    m[1, 2] += out_h / 2.0 - cy
    crop = cv2.warpAffine(
        gray, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    found = zxingcpp.read_barcodes(
        crop,
        formats=_formats(("Code128",)),
        try_rotate=True,  # cheap on a crop; covers a region whose long side runs along the bars
        try_downscale=False,
        try_invert=try_invert,
        text_mode=zxingcpp.TextMode.Plain,
    )
    back = cv2.invertAffineTransform(m)
    return [_from_zxing(b, back) for b in found]


def scan(
    gray: np.ndarray,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    try_rotations: bool = True,
    try_downscale: bool = True,
    try_invert: bool = True,
    linear_by_regions: bool = False,
) -> Scan:
    """Read every code in a gray uint8 frame; also count 1-D regions that did not decode.

    ``formats`` are zxing-cpp format names (``DEFAULT_FORMATS``: Code 128 and the
    QR family). ``try_rotations`` turns on zxing's ``try_rotate`` and the deskew
    pass for 1-D codes at any angle (only when Code 128 is among the formats).
    ``linear_by_regions`` reads 1-D codes only in the deskew pass's regions, not
    with zxing over the whole frame: that whole-frame 1-D search is the costly
    part on a busy frame (10 ms of 19 on a noisy 1280x720 frame, against 3 ms
    for the regions), and the waybill detector reads 1-D codes region by region
    anyway.
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 gray image, got {gray.dtype} {gray.shape}")
    names = tuple(formats)
    zx_formats = _formats(names)  # validate the names even when the image is too small
    if min(gray.shape) < _MIN_SIDE:
        return Scan(codes=())
    gray = np.ascontiguousarray(gray)
    linear = "Code128" in names or "All" in names
    whole = names
    if linear_by_regions and linear and "All" not in names:
        whole = tuple(n for n in names if n != "Code128")
    reads = []
    if whole:
        found = zxingcpp.read_barcodes(
            gray,
            formats=_formats(whole) if whole != names else zx_formats,
            try_rotate=try_rotations,
            try_downscale=try_downscale,
            try_invert=try_invert,
            text_mode=zxingcpp.TextMode.Plain,
        )
        reads = [_from_zxing(b) for b in found]
    unread = 0
    if (try_rotations or linear_by_regions) and linear:
        seen = {r.text for r in reads}
        for region in _linear_regions(gray):
            if _covered(region, reads):
                continue
            got = _read_region(gray, region, try_invert)
            if not got:
                unread += 1
            extra = [r for r in got if r.text not in seen]
            for r in extra:
                seen.add(r.text)
                reads.append(r)
    return Scan(codes=tuple(reads), unread_regions=unread)


def read_codes(
    gray: np.ndarray,
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    try_rotations: bool = True,
    try_downscale: bool = True,
    try_invert: bool = True,
) -> list[CodeRead]:
    """The codes zxing-cpp decodes in a gray uint8 frame (see ``scan`` for the options)."""
    return list(
        scan(
            gray,
            formats=formats,
            try_rotations=try_rotations,
            try_downscale=try_downscale,
            try_invert=try_invert,
        ).codes
    )


# --- one region, read densely ------------------------------------------------------------

# The crop is scaled so that the region is 640 px long: a waybill Code 128
# (SF + 13 digits is 145 modules) then gets 3-4 px a module. Measured on devset
# crops (960x540 source, 1.6 px modules): zxing read them at 3.1 px a module and
# more, not at 2.7.
_REGION_TARGET_PX = 640
_REGION_MAX_UPSCALE = 4.0  # beyond 4x a module under 0.8 px has no bars left to recover
# The shortest waybill Code 128 (12 digits, code set C) is 101 modules; at the
# 0.75 px a module that 4x upscaling brings to 3 px it is 75 px long. A shorter
# region (a letter, a logo) cannot hold one and is not read.
MIN_CODE_PX = 75
# A region longer than 640 px is scaled down to 640 px, but by half at most: a
# label filling a 4K frame keeps modules of 5 px and more.
_REGION_MIN_ZOOM = 0.5
_REGION_MARGIN = 0.15  # widen each side by 15% of the region: quiet zones and the
# bars' ends, which the 12 px analysis window trims
_REGION_MARGIN_PX = 2.0  # plus 2 analysis pixels (half a cell) each side
_REGION_MAX_ASPECT = 1.2  # crop height at most 1.2x its length: labels are wider than tall
# A region within 3 degrees of an image axis is cut out and resized instead of
# turned: zxing reads a code that much off level (its rows still cross every bar
# of a 145-module code: tan 3 deg x 640 px = 34 px of drift over bars 60+ px tall)
_AXIS_TOLERANCE_RAD = math.radians(3.0)


def _bars_lie_flat(crop: np.ndarray) -> bool:
    """Whether a crop's edges run mostly horizontally (its bars would lie flat).

    Sums of absolute horizontal and vertical Sobel responses on the crop at half
    size (0.1 ms): a 1-D code's bars give many vertical edges, which outweigh a
    label's few long horizontal ones (a header band, the border, text lines).
    """
    half = cv2.resize(crop, (max(1, crop.shape[1] // 2), max(1, crop.shape[0] // 2)))
    gx = cv2.Sobel(half, cv2.CV_16S, 1, 0, ksize=3)
    gy = cv2.Sobel(half, cv2.CV_16S, 0, 1, ksize=3)
    return float(cv2.norm(gy, cv2.NORM_L1)) > float(cv2.norm(gx, cv2.NORM_L1))


def _turned_crop(
    image: np.ndarray, region: Region, scale: float, zoom: float, length: float, height: float
) -> tuple[np.ndarray, np.ndarray]:
    """The region turned level and zoomed (``warpAffine``), and the affine map into it."""
    out_w, out_h = round(length * zoom), max(_MIN_SIDE, round(height * zoom))
    c, s = math.cos(region.angle), math.sin(region.angle)
    cx, cy = region.cx * scale, region.cy * scale
    # out = zoom * R(-angle) (p - centre) + out_size / 2
    m = np.array(
        [
            [zoom * c, zoom * s, out_w / 2.0 - zoom * (c * cx + s * cy)],
            [-zoom * s, zoom * c, out_h / 2.0 - zoom * (-s * cx + c * cy)],
        ]
    )
    crop = cv2.warpAffine(
        image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return crop, m


def _axis_crop(
    image: np.ndarray,
    region: Region,
    scale: float,
    zoom: float,
    length: float,
    height: float,
    upright: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """A region lying along an image axis: cut out and resized (4x cheaper than a warp).

    ``upright`` regions (the code's axis vertical) are turned a quarter so that the
    bars stand upright; ``m`` maps image pixels into the crop.
    """
    w, h = (height, length) if upright else (length, height)
    cx, cy = region.cx * scale, region.cy * scale
    x0, x1 = max(0, round(cx - w / 2)), min(image.shape[1], round(cx + w / 2))
    y0, y1 = max(0, round(cy - h / 2)), min(image.shape[0], round(cy + h / 2))
    if x1 - x0 < _MIN_SIDE or y1 - y0 < _MIN_SIDE:
        return np.zeros((0, 0), np.uint8), np.eye(2, 3)
    out_w, out_h = max(1, round((x1 - x0) * zoom)), max(1, round((y1 - y0) * zoom))
    interp = cv2.INTER_LINEAR if zoom >= 1.0 else cv2.INTER_AREA
    crop = cv2.resize(image[y0:y1, x0:x1], (out_w, out_h), interpolation=interp)
    sx, sy = out_w / (x1 - x0), out_h / (y1 - y0)
    m = np.array([[sx, 0.0, -sx * x0], [0.0, sy, -sy * y0]])
    if upright:
        crop = cv2.rotate(crop, cv2.ROTATE_90_CLOCKWISE)
        # a quarter turn clockwise: (x, y) -> (out_h - 1 - y, x)
        m = np.array([[0.0, -1.0, out_h - 1.0], [1.0, 0.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    return crop, m


def read_region(
    image: np.ndarray,
    region: Region,
    scale: float,
    *,
    out_scale: float = 1.0,
) -> list[CodeRead]:
    """Code 128 codes in one barcode-like ``region`` of a full-resolution gray frame.

    ``region`` is in analysis-frame pixels and ``scale`` turns them into pixels
    of ``image`` (full resolution: the crop keeps every pixel the camera
    recorded). The region is cut out, turned so that its bars stand upright,
    scaled to about 640 px long (thin modules upscaled, up to 4x) and stretched
    to the full gray range (zxing's binariser ignores windows of under 24 gray
    levels of contrast, which a dim room gives). The crop is read for Code 128
    only, without zxing's own rotation, downscaling and inversion searches
    (the crop is already level and sized). Positions come back in pixels of
    ``image`` times ``out_scale``.

    The region's axis comes from the 320 px frame, where a small label's bars
    blur away and its header band and border may set it, across the code's. So
    the crop is checked at full resolution: if its edges run across rather than
    along (more vertical than horizontal gradient), it is turned a quarter.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 gray image, got {image.dtype} {image.shape}")
    if region.length * scale < MIN_CODE_PX:
        return []
    # the zoom follows the region's own length; the margins only widen the crop
    zoom = _REGION_TARGET_PX / (region.length * scale)
    zoom = min(_REGION_MAX_UPSCALE, zoom) if zoom >= 1.0 else max(zoom, _REGION_MIN_ZOOM)
    length = (region.length * (1 + 2 * _REGION_MARGIN) + 2 * _REGION_MARGIN_PX) * scale
    height = (region.height * (1 + 2 * _REGION_MARGIN) + 2 * _REGION_MARGIN_PX) * scale
    height = min(height, _REGION_MAX_ASPECT * length)
    quarter = round(region.angle / (math.pi / 2))
    if abs(region.angle - quarter * math.pi / 2) <= _AXIS_TOLERANCE_RAD:
        crop, m = _axis_crop(image, region, scale, zoom, length, height, quarter % 2 == 1)
    else:
        crop, m = _turned_crop(image, region, scale, zoom, length, height)
    if min(crop.shape) < _MIN_SIDE:
        return []
    if _bars_lie_flat(crop):
        h = crop.shape[0]
        crop = cv2.rotate(crop, cv2.ROTATE_90_CLOCKWISE)
        # a quarter turn clockwise: (x, y) -> (h - 1 - y, x)
        m = np.array([[0.0, -1.0, h - 1.0], [1.0, 0.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    crop = cv2.normalize(crop, None, 0, 255, cv2.NORM_MINMAX)
    found = zxingcpp.read_barcodes(
        crop,
        formats=_formats(("Code128",)),
        try_rotate=False,
        try_downscale=False,
        try_invert=False,
        text_mode=zxingcpp.TextMode.Plain,
    )
    if not found:
        return []
    back = cv2.invertAffineTransform(m) * out_scale
    return [_from_zxing(b, back) for b in found]
