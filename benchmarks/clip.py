"""Build (once) a phone-like 1080p30 H.264 clip for the benchmarks.

The content is a large procedural texture panned and rotated by a handheld-like
random walk, with sensor noise, so the encoder spends a phone's bitrate on it
(about 16 Mbit/s at 1080p30) and the decoder does realistic work.
"""

from __future__ import annotations

import argparse
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

W, H, FPS = 1920, 1080, 30


def build_clip(path: Path, seconds: float, *, bitrate: int = 16_000_000, seed: int = 7) -> Path:
    """Encode ``seconds`` of 1080p30 to ``path`` unless it already exists."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no .cache yet
    rng = np.random.default_rng(seed)
    big = cv2.resize(rng.integers(0, 255, (270, 480, 3), dtype=np.uint8), (W * 2, H * 2))
    big = cv2.GaussianBlur(big, (0, 0), 3)
    detail = rng.integers(0, 60, (H * 2, W * 2, 3), dtype=np.uint8)
    big = cv2.add(big, detail)
    noise = [rng.integers(0, 12, (H, W, 3), dtype=np.uint8) for _ in range(8)]
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        st = out.add_stream("libx264", rate=FPS)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.bit_rate = bitrate
        st.options = {"preset": "veryfast", "g": "60", "bf": "2"}
        st.codec_context.time_base = Fraction(1, FPS)
        x = y = 0.0
        for i in range(int(seconds * FPS)):
            x = 0.95 * x + rng.normal(0, 6)
            y = 0.95 * y + rng.normal(0, 6)
            ox = int(W / 2 + x + 200 * np.sin(i / 90))
            oy = int(H / 2 + y)
            img = cv2.add(big[oy : oy + H, ox : ox + W], noise[i % 8])
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    print(build_clip(a.path, a.seconds))
