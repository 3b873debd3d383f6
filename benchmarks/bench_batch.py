"""Benchmark: batch throughput (jobs per minute) locally and on Celery workers.

On one folder of fixture clips (one case per clip, no case.json), each measured on a
fresh ``--out``:

* ``decode x2``: the reference, the physical limit: the same files decoded with PyAV and
  nothing else, two at a time (two processes, each file's frames decoded and dropped),
  the faster of FFmpeg's frame threads and one thread per file (both are printed);
* ``loop``: a shell loop of ``appeal-validator check`` over the clips (one process each);
* ``batch -j 1`` and ``batch -j 2``: the local process pool;
* ``celery x1`` and ``celery x2``: ``batch --distributed`` with 1 and 2 worker processes
  (``appeal-validator worker --concurrency 1`` each), when Redis is reachable
  (``--broker``, default redis://127.0.0.1:6379/15, a queue of its own).

The machine is shared and noisy: each figure is the best of ``--repeat`` runs. The
figures that matter are ratios against ``decode x2`` measured in the same run (issue 14:
``batch -j 2`` and two workers should reach 0.9 of it). ``--videos DIR`` measures on
your own clips (phone originals, say) instead of the generated fixtures.

    python benchmarks/bench_batch.py --clips 6 --repeat 1
    python benchmarks/bench_batch.py --videos .cache/bench --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = ["clean", "too-short", "dark", "spliced-take", "paused", "lens-covered", "blurred",
            "freeze-padding"]  # fmt: skip
CLI = [sys.executable, "-m", "validator"]


def build_folder(n: int, dest: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from fixtures.generate import build, default_cache

    cache = default_cache()
    clips = []
    for i in range(n):
        src, _ = build(VARIANTS[i % len(VARIANTS)], cache)
        (dest / f"case{i:02d}").mkdir(parents=True)
        clips.append(dest / f"case{i:02d}" / src.name)
        shutil.copy(src, clips[-1])
    return clips


def copy_folder(videos: Path, dest: Path) -> list[Path]:
    """One case folder per video file found in ``videos``."""
    clips = []
    for i, src in enumerate(sorted(p for p in videos.iterdir() if p.suffix in (".mp4", ".mov"))):
        (dest / f"case{i:02d}").mkdir(parents=True)
        clips.append(dest / f"case{i:02d}" / src.name)
        shutil.copy(src, clips[-1])
    return clips


# The reference: decode every frame with PyAV, two files at a time, and nothing else; in
# two ways, FFmpeg's frame threads and one thread per file (argv[1]). The faster is the
# physical limit: on 2 busy cores frame threads only add their own work.
DECODE_TWO_AT_A_TIME = """
import sys
from multiprocessing import Pool

import av


def decode(path):
    with av.open(path) as c:
        s = c.streams.video[0]
        if sys.argv[1] == "one":
            s.codec_context.thread_count = 1
        else:
            s.thread_type = "AUTO"
        return sum(1 for _ in c.decode(s))


if __name__ == "__main__":
    with Pool(2) as pool:
        print(sum(pool.map(decode, sys.argv[2:], chunksize=1)))
"""


def timed(cmd: list[str], **kw: object) -> float:
    t = time.monotonic()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=ROOT, **kw)  # type: ignore[call-overload]  # fmt: skip
    return time.monotonic() - t


def best(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    return min(fn() for _ in range(repeat))


def reachable(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def celery_run(root: Path, workers: int, broker: str, tmp: Path) -> float:
    sys.path.insert(0, str(ROOT))
    from validator.media.source import pool_analysis_threads

    env = {**os.environ, "APPEAL_VALIDATOR_BROKER_URL": broker,
           "APPEAL_VALIDATOR_QUEUE": f"av-bench-{uuid.uuid4().hex[:8]}",
           "APPEAL_VALIDATOR_DATA_DIR": str(tmp / "data"),
           "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
           # As docs/scale-out.md says for workers that share one machine's cores.
           "APPEAL_VALIDATOR_ANALYSIS_THREADS": str(pool_analysis_threads(workers))}  # fmt: skip
    procs = [
        subprocess.Popen(
            [
                *CLI,
                "worker",
                "--concurrency",
                "1",
                "--loglevel",
                "warning",
                "-n",
                f"bench{i}-{uuid.uuid4().hex[:6]}@%h",
            ],
            env=env,
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    try:
        time.sleep(4)  # let the workers connect (not counted)
        out = tmp / f"out-celery-{workers}-{uuid.uuid4().hex[:6]}"
        return timed([*CLI, "batch", str(root), "--distributed", "--out", str(out)], env=env)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(30)
        _drop_queue(broker, env["APPEAL_VALIDATOR_QUEUE"])


def _drop_queue(broker: str, queue: str) -> None:
    import redis

    r = redis.Redis.from_url(broker)
    r.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    r.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/15")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--videos", type=Path, help="measure on the clips in this folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as t:
        tmp = Path(t)
        root = tmp / "shared" / "cases"
        if args.videos:
            root.mkdir(parents=True)
            clips = copy_folder(args.videos, root)
        else:
            clips = build_folder(args.clips, root)
        n = len(clips)
        wall: dict[str, float] = {}
        for mode, label in (("frame", "frame threads"), ("one", "one thread")):
            decode = [sys.executable, "-c", DECODE_TWO_AT_A_TIME, mode, *map(str, clips)]
            wall[f"decode x2, {label}"] = best(args.repeat, lambda d=decode: timed(d))
        wall["decode x2"] = min(wall["decode x2, frame threads"], wall["decode x2, one thread"])
        loop = "for f in " + " ".join(f"'{c}'" for c in clips) + \
            f"; do '{sys.executable}' -m validator check \"$f\" >/dev/null; done"  # fmt: skip
        wall["loop of check"] = best(args.repeat, lambda: timed(["sh", "-c", loop]))
        for j in (1, 2):

            def run(j: int = j) -> float:
                out = tmp / f"out-{j}-{uuid.uuid4().hex[:6]}"
                return timed([*CLI, "batch", str(root), "-j", str(j), "--out", str(out)])

            wall[f"batch -j {j}"] = best(args.repeat, run)
        if reachable(args.broker):
            for w in (1, 2):
                wall[f"celery x{w}"] = best(args.repeat, lambda w=w: celery_run(root, w,
                                            args.broker, tmp))  # fmt: skip
        else:
            print(f"(Redis not reachable at {args.broker}: Celery figures skipped)")
    rows = {k: {"wall_s": round(v, 2), "jobs_per_min": round(n / v * 60, 1)}
            for k, v in wall.items()}  # fmt: skip
    print(f"{n} clips, {os.cpu_count()} cores")
    for k, v in rows.items():
        print(f"  {k:<14} {v['wall_s']:7.2f} s  {v['jobs_per_min']:6.1f} jobs/min")
    ratios = {}
    ratios["batch -j 2 / decode x2 throughput"] = round(wall["decode x2"] / wall["batch -j 2"], 2)
    if "celery x2" in wall:
        ratios["celery x2 / decode x2 throughput"] = round(wall["decode x2"] / wall["celery x2"], 2)
        ratios["celery x2 / x1 throughput"] = round(wall["celery x1"] / wall["celery x2"], 2)
    ratios["batch -j 2 / loop throughput"] = round(wall["loop of check"] / wall["batch -j 2"], 2)
    ratios["batch -j 2 / -j 1 throughput"] = round(wall["batch -j 1"] / wall["batch -j 2"], 2)
    for k, v in ratios.items():
        print(f"  {k}: {v}")
    if args.json:
        args.json.write_text(json.dumps({"clips": n, "runs": rows, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
