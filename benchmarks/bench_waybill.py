"""Measure the reader: milliseconds per 1280 px frame, per configuration.

    python benchmarks/bench_waybill.py [--realdata ../shared/realdata] [--repeat 3]

Two frame sets: (1) zxing-cpp's code128/qrcode sample images and its code-free
falsepositives photos, each scaled to 1280 px on the long side; (2) generated
1280x720 frames holding a Code 128 waybill number at several angles. For each
configuration it prints the median and 90th percentile time and how many
frames read their expected text. Timings depend on the machine; compare rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the generator: fixtures/

from fixtures.waybill_frames import synthetic_frame
from validator.waybill.reader import ALL_FORMATS, DEFAULT_FORMATS, read_codes

_IMG = (".png", ".jpg", ".webp")
CONFIGS: dict[str, dict] = {
    "all formats, full search": {"formats": ALL_FORMATS},
    "all formats, no deskew pass": {"formats": ALL_FORMATS, "try_rotations": False},
    "Code128+QR, full search (default)": {},
    "Code128+QR, no deskew pass": {"try_rotations": False},
    "Code128+QR, no invert": {"try_invert": False},
    "Code128+QR, no downscale": {"try_downscale": False},
    "Code128 only, full search": {"formats": ("Code128",)},
}


def _scaled(path: Path, long_side: int = 1280) -> np.ndarray | None:
    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if g is None:
        return None
    s = long_side / max(g.shape)
    return cv2.resize(
        g, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    )


def sample_frames(realdata: Path) -> list[tuple[str, np.ndarray, str | None]]:
    """(set, frame, expected text or None) for the zxing-cpp sample folders."""
    root = realdata / "zxing-cpp" / "test" / "samples"
    out = []
    for d in sorted(root.glob("*")):
        if not d.name.startswith(("code128-", "qrcode-", "falsepositives-")):
            continue
        if d.name == "qrcode-7":  # structured append: no per-image expected text
            continue
        kind = "empty" if d.name.startswith("falsepositives") else "codes"
        for p in sorted(d.iterdir()):
            if p.suffix in _IMG and (g := _scaled(p)) is not None:
                txt = p.with_suffix(".txt")
                exp = txt.read_bytes().decode("utf-8") if txt.exists() else None
                out.append((kind, g, exp))
    return out


def synthetic_frames() -> list[tuple[str, np.ndarray, str | None]]:
    out = []
    for i, angle in enumerate((0, 10, 30, 45, 60, 90, 135, 180)):
        for module in (2.0, 3.0):
            text = f"SF{1234567890100 + i:013d}"
            f = synthetic_frame(text, module_px=module, angle_deg=angle, seed=i)
            out.append(("synthetic", f, text))
    return out


def run(frames, repeat: int) -> None:
    for name, kw in CONFIGS.items():
        for kind in ("codes", "empty", "synthetic"):
            sel = [(g, e) for k, g, e in frames if k == kind]
            if not sel:
                continue
            times, ok, n = [], 0, 0
            for g, exp in sel:
                best = float("inf")
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    reads = read_codes(g, **kw)
                    best = min(best, (time.perf_counter() - t0) * 1000.0)
                times.append(best)
                if exp is not None:
                    n += 1
                    ok += any(r.text == exp for r in reads)
                elif reads:
                    ok += 1  # a read on a code-free frame: counted as a false positive
            med = statistics.median(times)
            p90 = float(np.percentile(times, 90))
            hit = f"read {ok}/{n}" if kind != "empty" else f"false reads {ok}"
            timing = f"median {med:5.1f} ms  p90 {p90:5.1f} ms"
            print(f"{name:36s} {kind:9s} n={len(sel):3d} {timing}  {hit}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    here = Path(__file__).resolve().parents[2]
    ap.add_argument("--realdata", type=Path, default=here.parent / "shared" / "realdata")
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs per frame")
    a = ap.parse_args()
    frames = synthetic_frames()
    if a.realdata.is_dir():
        frames = sample_frames(a.realdata) + frames
    else:
        print(f"no {a.realdata}: synthetic frames only")
    print(f"formats by default: {DEFAULT_FORMATS}; OpenCV threads: {cv2.getNumThreads()}")
    run(frames, a.repeat)


if __name__ == "__main__":
    main()
