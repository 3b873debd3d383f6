"""Benchmark: whole ``check`` time as a ratio of pure decode time, and peak RSS.

For each clip length (default 2 and 10 minutes of phone-like 1080p30 H.264 at
~16 Mbit/s, built once by ``clip.py`` into ``.cache/bench``) it measures, each
in a fresh subprocess so peak RSS is its own:

* ``decode``: PyAV decoding every frame with FFmpeg's threads, nothing else
  (the reference, measured in the same run);
* ``check``: ``validator.check`` with every detector;
* ``scenedetect``: PySceneDetect's ``detect-content`` (OpenCV backend), the peer.

It reports time / decode time and peak RSS. The machine is noisy, so each
measure is repeated ``--repeat`` times and the minimum is kept (the least
disturbed run), as ``timeit`` recommends.

    python benchmarks/bench_check.py --minutes 2 10 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _decode(path: str) -> None:
    import av

    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for _ in c.decode(s):
            pass


def _check(path: str) -> dict:
    from validator import check

    r = check(path).to_dict()
    return {
        # The waybill detector's own time, as the check's clock measured it.
        "barcode_ms": round(1000 * r["analysis"]["detector_s"].get("waybill", 0.0), 1),
        "cut_candidates": r["motion"].get("candidates_verified"),
        "detector_s": r["analysis"].get("detector_s", {}),
    }


def _scenedetect(path: str) -> None:
    from scenedetect import ContentDetector, SceneManager, open_video

    video = open_video(path, backend="opencv")
    sm = SceneManager()
    sm.add_detector(ContentDetector())
    sm.detect_scenes(video)


TASKS = {"decode": _decode, "check": _check, "scenedetect": _scenedetect}


def _child(task: str, path: str) -> None:
    t = time.perf_counter()
    extra = TASKS[task](path) or {}
    wall = time.perf_counter() - t
    print(json.dumps({"wall_s": wall, "peak_rss_mb": _peak_rss_mb(), **extra}))


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). ``ru_maxrss`` would not do: Linux carries it
    across ``exec`` from the parent, so a child would report its parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(task: str, path: Path, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", task, str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["wall_s"])
    out = {
        "wall_s": round(best["wall_s"], 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
    }
    if best.get("barcode_ms") is not None:
        out["barcode_share"] = round(best["barcode_ms"] / 1000 / best["wall_s"], 3)
        out["cut_candidates"] = best["cut_candidates"]
    if best.get("detector_s"):
        # Each detector's own time (its process() and finish() calls on the analysis
        # thread) as a share of the whole check's wall time. Decoding runs in another
        # thread at the same time, so the shares need not add up to the overhead.
        out["detector_share"] = {
            k: round(v / best["wall_s"], 3) for k, v in sorted(best["detector_s"].items())
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=float, nargs="+", default=[2, 10])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--child", nargs=2, metavar=("TASK", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    if a.child:
        _child(*a.child)
        return
    results = {"machine": platform.platform(), "cpus": os.cpu_count(), "clips": []}
    for minutes in a.minutes:
        path = ROOT / ".cache" / "bench" / f"phone1080p-{minutes:g}min.mp4"
        # Built in its own process so its buffers count in no measurement.
        subprocess.run(
            [sys.executable, str(HERE / "clip.py"), str(path), "--seconds", str(minutes * 60)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        row: dict = {"clip": path.name, "minutes": minutes}
        for task in a.tasks:
            row[task] = measure(task, path, a.repeat)
        ref = row["decode"]["wall_s"] if "decode" in row else None
        for task in a.tasks:
            if ref and task != "decode":
                row[task]["ratio_to_decode"] = round(row[task]["wall_s"] / ref, 3)
        results["clips"].append(row)
        print(json.dumps(row))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
