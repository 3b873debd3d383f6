"""Generated frames with a known code: a waybill barcode pasted into a noisy scene.

For tests and measurements (known ground truth, no media files): zxing-cpp 3
writes the barcode (``zxingcpp.create_barcode``), we scale it to a module width
in pixels, turn it, paste it into a blurred random texture with sensor-like
noise and blur the result a little, as a phone camera would.
"""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

__all__ = ["noisy_background", "paste_code", "render_code", "synthetic_frame"]


def render_code(text: str, module_px: float, *, fmt: str = "Code128") -> np.ndarray:
    """The code as a gray uint8 image with quiet zones, ``module_px`` pixels a module."""
    bc = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.__members__[fmt])
    img = np.asarray(bc.to_image(scale=1, add_quiet_zones=True), dtype=np.uint8)
    h, w = img.shape
    size = (max(1, round(w * module_px)), max(1, round(h * module_px)))
    interp = cv2.INTER_AREA if module_px < 1 else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def noisy_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random texture (a table, a box side) with per-pixel noise."""
    coarse = rng.integers(60, 200, (max(2, height // 16), max(2, width // 16)), dtype=np.uint8)
    bg = cv2.GaussianBlur(cv2.resize(coarse, (width, height)), (0, 0), 5)
    return cv2.add(bg, rng.integers(0, 25, (height, width), dtype=np.uint8))


def paste_code(
    background: np.ndarray,
    code: np.ndarray,
    *,
    angle_deg: float = 0.0,
    centre: tuple[int, int] | None = None,
) -> np.ndarray:
    """``background`` with ``code`` turned ``angle_deg`` (anticlockwise), pasted at ``centre``."""
    out = background.copy()
    ch, cw = code.shape
    m = cv2.getRotationMatrix2D((cw / 2.0, ch / 2.0), angle_deg, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(ch * sin + cw * cos) + 2, int(ch * cos + cw * sin) + 2
    m[0, 2] += nw / 2.0 - cw / 2.0
    m[1, 2] += nh / 2.0 - ch / 2.0
    turned = cv2.warpAffine(code, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(np.full_like(code, 255), m, (nw, nh), flags=cv2.INTER_NEAREST)
    H, W = out.shape
    if nw > W or nh > H:
        raise ValueError(f"a {nw}x{nh} code does not fit a {W}x{H} frame")
    cx, cy = centre if centre is not None else (W // 2, H // 2)
    x0 = int(min(max(cx - nw // 2, 0), W - nw))
    y0 = int(min(max(cy - nh // 2, 0), H - nh))
    roi = out[y0 : y0 + nh, x0 : x0 + nw]
    roi[mask > 0] = turned[mask > 0]
    return out


def synthetic_frame(
    text: str,
    *,
    module_px: float = 3.0,
    angle_deg: float = 0.0,
    size: tuple[int, int] = (720, 1280),
    fmt: str = "Code128",
    seed: int = 0,
    blur_sigma: float = 0.8,
) -> np.ndarray:
    """A ``size`` (height, width) gray frame holding one code with content ``text``."""
    rng = np.random.default_rng(seed)
    frame = paste_code(
        noisy_background(size[0], size[1], rng),
        render_code(text, module_px, fmt=fmt),
        angle_deg=angle_deg,
    )
    return cv2.GaussianBlur(frame, (0, 0), blur_sigma) if blur_sigma > 0 else frame
