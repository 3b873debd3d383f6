"""Scale-out: real Celery worker processes on Redis, the job store on PostgreSQL.

Needs Redis at 127.0.0.1:6379 (db 15, a queue of its own per test) and PostgreSQL at
127.0.0.1:5432 (a fresh database per test, dropped after); skips, saying which is
missing, when either is unreachable. Every worker started here is killed in teardown.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
REDIS = ("127.0.0.1", 6379)
PG = ("127.0.0.1", 5432)
SLEEPY = "test_celery_worker:sleepy_analysis"
JOB_TIMEOUT_S = 20  # the jobs' time limit here (see ``services``)

pytestmark = pytest.mark.slow


def sleepy_analysis(path: str, **kw: Any) -> dict[str, Any]:
    """The fake analysis after a 3 s pause (time to kill the worker mid-job).

    Logs each start to ``<DATA_DIR>/starts.log``; the fake logs each completed analysis
    to ``fake-analysis.log``.
    """
    from _service import _data_dir, fake_analysis

    with open(_data_dir(kw["out_dir"]) / "starts.log", "a") as f:
        f.write(f"{os.getpid()}\n")
    kw["progress"](0.2, "decoding")
    time.sleep(3)
    return fake_analysis(path, **kw)


def _reachable(addr: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(addr, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def services(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Env for a worker and an app: Redis db 15, a fresh PostgreSQL database."""
    if not _reachable(REDIS):
        pytest.skip(f"Redis is not reachable at {REDIS[0]}:{REDIS[1]} (CI provides it)")
    if not _reachable(PG):
        pytest.skip(f"PostgreSQL is not reachable at {PG[0]}:{PG[1]} (CI provides it)")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (extra postgres)")
    pytest.importorskip("celery", reason="celery is not installed")
    db = f"av_celery_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(f"host={PG[0]} port={PG[1]} user=postgres dbname=postgres",
                            autocommit=True)  # fmt: skip
    try:
        admin.execute(f'CREATE DATABASE "{db}"')
        env = {
            **os.environ,
            "APPEAL_VALIDATOR_BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/15",
            "APPEAL_VALIDATOR_QUEUE": f"av-test-{uuid.uuid4().hex[:12]}",
            "DATABASE_URL": f"postgresql+psycopg://postgres@{PG[0]}:{PG[1]}/{db}",
            "APPEAL_VALIDATOR_DATA_DIR": str(tmp_path / "shared"),
            # A short lease, so a killed worker's job comes back fast. The time limit is
            # the real analysis of "too-short" beside the other test worker: it ran past
            # 6 s once in a full run here (job_timeout); 20 s is over 3x that limit.
            "APPEAL_VALIDATOR_JOB_TIMEOUT_S": str(JOB_TIMEOUT_S),
            "APPEAL_VALIDATOR_JOB_LEASE_S": "2",
            "APPEAL_VALIDATOR_WEBHOOK_ALLOW_PRIVATE": "true",
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
        }
        yield env
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()
        import redis

        r = redis.Redis(host=REDIS[0], port=REDIS[1], db=15)
        queue = env["APPEAL_VALIDATOR_QUEUE"]
        keys = [queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"]
        r.delete(*keys, *r.scan_iter(f"{queue}*"))
        r.close()


class Workers:
    """Worker processes (each in its own process group); all killed at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir, self.procs = env, log_dir, []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "validator", "worker", "--concurrency", "1",
             "--loglevel", "info", "-n", f"w{len(self.procs)}-{uuid.uuid4().hex[:6]}@%h",
             *extra],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        return proc

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)  # the main process and its pool child
        proc.wait(10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(10)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(10)


@pytest.fixture
def workers(services: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    (tmp_path / "logs").mkdir()
    w = Workers(services, tmp_path / "logs")
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def app(services: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from validator.web import create_app

    for k in ("APPEAL_VALIDATOR_BROKER_URL", "APPEAL_VALIDATOR_QUEUE", "DATABASE_URL"):
        monkeypatch.setenv(k, services[k])
    app = create_app(
        {
            "DATA_DIR": services["APPEAL_VALIDATOR_DATA_DIR"],
            "JOB_TIMEOUT_S": JOB_TIMEOUT_S,
            "JOB_LEASE_S": 2,
            "WEBHOOK_ALLOW_PRIVATE": True,
            "TESTING": True,
        }
    )
    try:
        yield app
    finally:
        app.extensions["appeal"].close()


def _upload(client: Any, headers: dict, path: Path, **fields: str) -> dict:
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    data = {"video": FileStorage(io.BytesIO(path.read_bytes()), path.name), **fields}
    boundary, body = encode_multipart(data)
    resp = client.post("/api/v1/checks", headers=headers, data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
    assert resp.status_code == 202, resp.get_data(as_text=True)
    return resp.json


def _wait(client: Any, headers: dict, check_id: str, workers: Workers, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/checks/{check_id}", headers=headers).json
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"check still {body.get('status')} after {timeout} s:\n{workers.logs()}")


def test_worker_consumes_jobs_submitted_through_the_api(app, workers, tmp_path) -> None:
    from fixtures.generate import build, default_cache

    clip, _ = build("too-short", default_cache())
    svc = app.extensions["appeal"]
    _, key = svc.store.create_key("acme")
    headers = {"Authorization": f"Bearer {key}"}
    workers.start()
    client = app.test_client()
    job = _upload(client, headers, clip)
    body = _wait(client, headers, job["id"], workers, timeout=90)
    assert body["status"] == "done", body
    assert body["report"]["requirements"]["completeness"]["verdict"] == "fail"  # too short
    assert "appeal_validator.run_check" in workers.logs()


def test_a_job_whose_message_was_lost_is_sent_again(app, workers, services) -> None:
    import redis

    from fixtures.generate import build, default_cache

    clip, _ = build("too-short", default_cache())
    svc = app.extensions["appeal"]
    _, key = svc.store.create_key("acme")
    headers = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    job = _upload(client, headers, clip)
    r = redis.Redis(host=REDIS[0], port=REDIS[1], db=15)
    queue = services["APPEAL_VALIDATOR_QUEUE"]
    try:
        assert r.llen(queue) == 1  # no worker yet: the message waits in Redis
        r.delete(queue)  # ... and is lost, as in a Redis restart
    finally:
        r.close()
    workers.start()  # its recovery finds the job queued with no message waiting: sends it
    body = _wait(client, headers, job["id"], workers, timeout=90)
    assert body["status"] == "done", body


@pytest.fixture
def receiver() -> Iterator[list[bytes]]:
    """A local webhook receiver; yields the bodies it got."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            calls.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    calls.append(f"http://127.0.0.1:{server.server_address[1]}/hook".encode())
    try:
        yield calls
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_kill_9_mid_job_completes_exactly_once(app, workers, services, tmp_path, receiver):
    svc = app.extensions["appeal"]
    url = receiver.pop(0).decode()
    _, key = svc.store.create_key("acme", callback_url=url)
    headers = {"Authorization": f"Bearer {key}"}
    data_dir = Path(services["APPEAL_VALIDATOR_DATA_DIR"])
    first = workers.start("--analysis-target", SLEEPY)
    client = app.test_client()
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 200)  # sniffs as MP4; the fake ignores it
    job = _upload(client, headers, fake)
    starts = data_dir / "starts.log"
    deadline = time.monotonic() + 60
    while not starts.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert starts.exists(), workers.logs()
    workers.kill9(first)  # mid-job: the analysis sleeps 3 s
    assert not (data_dir / "fake-analysis.log").exists()
    row = svc.store.get(job["id"])
    assert row is not None and row.status == "running"
    workers.start("--analysis-target", SLEEPY)  # the redelivered job runs here
    body = _wait(client, headers, job["id"], workers, timeout=90)
    assert body["status"] == "done", body
    assert len(starts.read_text().splitlines()) == 2  # started twice
    assert len((data_dir / "fake-analysis.log").read_text().splitlines()) == 1  # done once
    deadline = time.monotonic() + 20  # the worker delivers the job's webhook: exactly one
    while not receiver and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [json.loads(b)["type"] for b in receiver] == ["check.done"], workers.logs()
    row = svc.store.get(job["id"])
    assert row is not None and row.attempts == 2
    # Delivered once more (a duplicate): the finished job is not run again.
    from validator.jobs.tasks import run_check

    result = run_check.apply_async(args=[job["id"], str(data_dir)],
                                   queue=services["APPEAL_VALIDATOR_QUEUE"])  # fmt: skip
    assert result.get(timeout=30) == {"id": job["id"], "status": "done"}
    result.forget()
    assert len(starts.read_text().splitlines()) == 2
    assert len((data_dir / "fake-analysis.log").read_text().splitlines()) == 1
    time.sleep(1)
    assert len(receiver) == 1


def test_batch_distributed_runs_on_the_workers(workers, services, tmp_path) -> None:
    import shutil

    from fixtures.generate import build, default_cache

    clip, _ = build("too-short", default_cache())
    root = tmp_path / "shared" / "batch"  # on the mount every worker shares
    (root / "case1").mkdir(parents=True)
    shutil.copy(clip, root / "case1" / "v.mp4")
    (root / "bad.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + os.urandom(3000))
    workers.start()
    r = subprocess.run(
        [sys.executable, "-m", "validator", "batch", str(root), "--distributed"],
        env=services, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 4, r.stderr + workers.logs()
    rows = {row["case_id"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows["bad.mp4"]["status"] == "unreadable"
    assert rows["case1"]["status"] == "done" and rows["case1"]["completeness"] == "fail"
    assert "appeal_validator.run_batch_case" in workers.logs()
