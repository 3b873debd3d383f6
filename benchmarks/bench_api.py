"""Benchmark: ``GET /api/v1/checks/{id}`` latency under load while two analyses run.

Starts the service on loopback with a fresh data directory (SQLite, the embedded
broker): by default as the Dockerfile runs it, gunicorn (2 processes of 8 threads) and
``appeal-validator worker --concurrency 2`` niced by 10 beside it (analyses are
CPU-bound: the web's requests go first); ``--server serve`` measures
``appeal-validator serve --workers 2`` (werkzeug's threaded server) instead. It
finishes one check to poll, then keeps two
analyses of a fixture clip running the whole time (a feeder submits a new check,
with other facts so no result is reused, whenever fewer than two are in flight)
while ``--clients`` concurrent keep-alive HTTP clients (threads spread over a few
processes, so the client's GIL is not the bottleneck) GET the check for
``--seconds``. Prints p50, p90, p99 and max latency, requests per second, the error
count (non-200 answers and connection failures) and how often two analyses were
really running.

    .venv/bin/python benchmarks/bench_api.py --clients 50 --seconds 60
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _multipart(video: bytes, case: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="case"\r\n\r\n'.encode(),
            json.dumps(case).encode(),
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="video"; '
            f'filename="v.mp4"\r\nContent-Type: video/mp4\r\n\r\n'.encode(),
            video,
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
    return body, f"multipart/form-data; boundary={boundary}"


def _request(url: str, method: str, path: str, key: str, body: bytes | None = None,
             ctype: str | None = None) -> tuple[int, dict]:  # fmt: skip
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    headers = {"Authorization": f"Bearer {key}"}
    if ctype:
        headers["Content-Type"] = ctype
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def _client_process(
    url: str, path: str, key: str, threads: int, seconds: float, interval_s: float = 0.0
) -> dict:
    """One process of ``threads`` keep-alive clients, each polling every ``interval_s``
    (0: back to back); latencies in ms and error count."""
    u = urlsplit(url)
    deadline = time.monotonic() + seconds
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def run() -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad += 1
                mine.append((time.perf_counter() - t0) * 1000)
            except (OSError, http.client.HTTPException):
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            if interval_s:
                time.sleep(max(0.0, interval_s - (time.perf_counter() - t0)))
        conn.close()
        with lock:
            lat.extend(mine)
            errors[0] += bad

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {"lat": lat, "errors": errors[0]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn_service(data_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """gunicorn (2 x 8 threads) and a niced Celery worker (2 analyses): the Dockerfile's
    command on loopback. Yields the base URL."""
    port = _free_port()
    full = {**os.environ, **env, "APPEAL_VALIDATOR_DATA_DIR": str(data_dir),
            "APPEAL_VALIDATOR_RUN_POOL": "false"}  # fmt: skip
    log = open(data_dir.parent / "service.log", "ab")  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [
                "nice",
                "-n",
                "10",
                sys.executable,
                "-m",
                "validator",
                "worker",
                "--concurrency",
                "2",
                "--loglevel",
                "warning",
            ],
            env=full,
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--threads",
                "8",
                "--timeout",
                "600",
                "--bind",
                f"127.0.0.1:{port}",
                "validator.web:create_app()",
            ],
            env=full,
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        ),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"the service did not start; see {log.name}") from None
                time.sleep(0.2)
        yield url
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--processes", type=int, default=4, help="client processes")
    ap.add_argument("--fixture", default="spliced-take", help="clip kept under analysis")
    ap.add_argument("--server", choices=("gunicorn", "serve"), default="gunicorn")
    ap.add_argument(
        "--poll-interval-s",
        type=float,
        default=0.0,
        help="each client polls this often (a ticket system's poller); 0: back to back, "
        "where latency is mostly queueing (clients / throughput)",
    )
    args = ap.parse_args()

    from fixtures.generate import build, default_cache
    from validator.jobs import settings
    from validator.jobs.store import Store

    sys.path.insert(0, str(ROOT / "tests"))  # the tests' server helper
    from _service import Server

    cache = default_cache()
    video = build(args.fixture, cache)[0].read_bytes()
    small = build("too-short", cache)[0].read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        data_dir = Path(tmp) / "data"
        cfg = settings.from_env({"APPEAL_VALIDATOR_DATA_DIR": str(data_dir)})
        settings.ensure_data_dir(cfg)
        store = Store(cfg.database_url)
        _, key = store.create_key("bench")
        env = {"APPEAL_VALIDATOR_POLL_S": "0.2"}
        if args.server == "gunicorn":
            service: contextlib.AbstractContextManager[Any] = gunicorn_service(data_dir, env)
        else:
            service = Server(data_dir, env=env, workers=2)
        with service as server:
            server = SimpleNamespace(url=server) if isinstance(server, str) else server
            print(f"{args.server} {server.url}, 2 analysis workers, data in {data_dir}",
                  flush=True)  # fmt: skip
            body, ctype = _multipart(small, {"claim": {"type": "other"}})
            status, check = _request(server.url, "POST", "/api/v1/checks", key, body, ctype)
            assert status == 202, check
            while store.get(check["id"]).status not in ("done", "failed"):
                time.sleep(0.1)
            path = f"/api/v1/checks/{check['id']}"
            size = len(json.dumps(_request(server.url, "GET", path, key)[1]))
            print(f"polled resource: {path} ({size} bytes of JSON, report included)")

            stop = threading.Event()
            running_samples: list[int] = []
            submitted = [0]

            def feeder() -> None:
                n = 0
                while not stop.is_set():
                    counts = store.counts()
                    running_samples.append(counts["running"])
                    if counts["queued"] + counts["running"] < 3:  # 2 running + 1 waiting
                        n += 1
                        case = {"return": {"tracking_number": f"BENCH{n:06d}"}}
                        b, c = _multipart(video, case)
                        _request(server.url, "POST", "/api/v1/checks", key, b, c)
                        submitted[0] += 1
                    stop.wait(0.25)

            feed = threading.Thread(target=feeder, daemon=True)
            feed.start()
            deadline = time.monotonic() + 60
            while store.counts()["running"] < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            running_samples.clear()
            per = [args.clients // args.processes] * args.processes
            for i in range(args.clients % args.processes):
                per[i] += 1
            started = time.monotonic()
            with ProcessPoolExecutor(args.processes) as ex:
                futs = [ex.submit(_client_process, server.url, path, key, n, args.seconds,
                                  args.poll_interval_s) for n in per if n]  # fmt: skip
                results = [f.result() for f in futs]
            elapsed = time.monotonic() - started
            stop.set()
            feed.join(30)
            finished = store.counts()["done"]
        store.close()

    lat = sorted(x for r in results for x in r["lat"])
    errors = sum(r["errors"] for r in results)
    q = statistics.quantiles(lat, n=100, method="inclusive")
    two = sum(1 for s in running_samples if s >= 2) / max(1, len(running_samples))
    print(
        f"{args.clients} clients (poll every {args.poll_interval_s or 0:g} s), {elapsed:.1f} s: "
        f"{len(lat)} requests "
        f"({len(lat) / elapsed:.0f}/s), errors {errors}\n"
        f"latency ms: p50 {q[49]:.1f}  p90 {q[89]:.1f}  p99 {q[98]:.1f}  max {lat[-1]:.1f}\n"
        f"analyses: 2 running in {100 * two:.0f}% of samples; {submitted[0]} submitted, "
        f"{finished - 1} finished during the run\n"
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
