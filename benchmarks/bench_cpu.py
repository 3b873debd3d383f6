"""Benchmark: where a check's CPU time goes, against the decode it cannot avoid.

Batch throughput on a saturated machine is CPU seconds per clip: with ``batch -j 2`` on 2
cores both cores are busy, so ``batch -j 2 / decode x2`` (``bench_batch.py``) is close to
``decode CPU / check CPU``. This script splits a check's CPU seconds, each measured in a
fresh process on the same clip in the same run (CPU time, not wall time, so other load on
the machine disturbs it little):

* ``decode``: PyAV decoding every frame and nothing else, with FFmpeg's frame threads and
  with one thread; the cheaper is the reference (on busy cores frame threads only add
  their own work, which is why ``batch -j N`` on N cores decodes with one thread:
  ``validator.media.source.set_analysis_threads``);
* ``decode, loop filter skipped``: as the check decodes (``analyze.SKIP_LOOP_FILTER``);
* ``decode + conversion``: ``VideoSource`` (the luma plane to 320 px gray, 160 px colour);
* ``check``: ``validator.check`` with every detector, with one decoder thread and with
  frame threads; each detector's own CPU seconds are read with ``time.thread_time`` in
  the consumer thread;
* ``check_case``: what ``batch`` does for a case of this one video
  (``validator.check_case``: the check, the evidence pictures, ``report.json``).

It prints each as seconds and as a ratio to the reference, and the analysis budget that a
0.9 throughput ratio leaves: ``decode / 0.9 - decode with the loop filter skipped``.

    python benchmarks/bench_cpu.py                # the 30 s 1080p clip bench_batch uses
    python benchmarks/bench_cpu.py --video my.mp4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = r"""
import json, resource, sys, time

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

task, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
import av
from validator.analyze import run_detectors
from validator.detectors import REGISTRY
from validator.media.probe import probe
from validator.media.source import VideoSource, configure_decoder, set_analysis_threads
from validator.policy import load_policy
from validator import check

set_analysis_threads(threads)
out = {}
c0 = cpu()
if task in ("decode", "decode_nolf"):
    with av.open(path) as c:
        s = c.streams.video[0]
        configure_decoder(s, skip_loop_filter=task == "decode_nolf")
        for _ in c.decode(s):
            pass
elif task == "source":
    with VideoSource(path, skip_loop_filter=True) as src:
        for _ in src:
            pass
elif task == "check_case":
    import tempfile
    from validator import check_case
    with tempfile.TemporaryDirectory() as tmp:
        check_case(None, [path], tmp)
elif task == "detectors":
    pol = load_policy(None)
    media = probe(path, pol)
    active = [REGISTRY[n](media, pol) for n in REGISTRY]
    spent = {}
    with VideoSource(path, stream_index=media.video_stream_index, skip_loop_filter=True,
                     retime=media.pts_in_decode_order) as src:
        run_detectors(src, active, duration_s=media.duration_s, timings=spent,
                      counter=time.thread_time)
    out["detector_cpu_s"] = {k: round(v, 3) for k, v in spent.items()}
else:
    check(path)
out["cpu_s"] = cpu() - c0
print(json.dumps(out))
"""


def run(task: str, threads: int, video: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, task, str(video), str(threads)],
                       capture_output=True, text=True, cwd=ROOT, check=True)  # fmt: skip
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="default: a 30 s 1080p30 phone-like clip")
    ap.add_argument("--repeat", type=int, default=2, help="keep the least of N runs")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    video = args.video
    if video is None:
        sys.path.insert(0, str(HERE))
        from clip import build_clip

        video = build_clip(ROOT / ".cache" / "bench-batch" / "clip0.mp4", 30, seed=0)
    cpu: dict[str, float] = {}
    detectors: dict[str, float] = {}
    # (task, decoder threads: 0 frame threads, 1 one thread as in ``batch -j 2``)
    tasks = [("decode", 0), ("decode", 1), ("decode_nolf", 1), ("source", 1),
             ("detectors", 1), ("check", 0), ("check", 1), ("check_case", 1)]  # fmt: skip
    for task, threads in tasks:
        runs = [run(task, threads, video) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["cpu_s"])
        cpu[f"{task}/{threads}"] = best["cpu_s"]
        detectors = best.get("detector_cpu_s", detectors)
    # The reference is the cheaper way to decode every frame and nothing else.
    ref = min(cpu["decode/0"], cpu["decode/1"])
    labels = {"decode/0": "decode, frame threads", "decode/1": "decode, one thread",
              "decode_nolf/1": "decode, loop filter skipped", "source/1": "decode + conversion",
              "detectors/1": "probe + decode + detectors", "check/0": "check, frame threads",
              "check/1": "check", "check_case/1": "check_case (+ pictures)"}  # fmt: skip
    print(f"{video.name}: CPU seconds (least of {args.repeat}); ratio = reference / this;")
    print("  one decoder thread unless said (as batch -j 2 decodes on 2 cores)")
    for k, v in cpu.items():
        print(f"  {labels[k]:<30} {v:6.2f} s  throughput ratio {ref / v:4.2f}")
    for k, v in sorted(detectors.items(), key=lambda kv: -kv[1]):
        print(f"    detector {k:<20} {v:6.2f} s")
    budget = ref / 0.9 - cpu["decode_nolf/1"]
    spent = cpu["check/1"] - cpu["decode_nolf/1"]
    print(f"  analysis CPU now {spent:.2f} s; a 0.9 ratio leaves {budget:.2f} s "
          f"({spent / max(budget, 1e-9):.1f}x less needed)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"video": str(video), "cpu_s": cpu,
                                         "detector_cpu_s": detectors,
                                         "budget_for_0_9_s": budget}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
