"""A real server, or its worker, killed mid-analysis: the jobs are completed all the same."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest
from _service import Server

from validator.jobs import settings
from validator.jobs.store import Store
from validator.report.model import report_schema

ROOT = Path(__file__).resolve().parents[1]


def fixture_clip(name: str) -> tuple[Path, dict]:
    from fixtures.generate import build, default_cache

    return build(name, default_cache())


def post(url: str, key: str, video: Path, case: dict) -> dict:
    boundary = "----appeal-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="case"\r\n\r\n'.encode()
        + json.dumps(case).encode()
        + b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="v.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n".encode()
        + video.read_bytes()
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    req = urllib.request.Request(
        f"{url}/api/v1/checks",
        data=b"".join(parts),
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
        return json.loads(resp.read())


@pytest.mark.slow
def test_jobs_survive_a_crash_of_the_service(tmp_path: Path) -> None:
    video, truth = fixture_clip("spliced-take")
    short, _ = fixture_clip("too-short")
    data_dir = tmp_path / "data"
    env = {"APPEAL_VALIDATOR_JOB_LEASE_S": "3", "APPEAL_VALIDATOR_POLL_S": "0.1"}
    cfg = settings.from_env({"APPEAL_VALIDATOR_DATA_DIR": str(data_dir)})
    settings.ensure_data_dir(cfg)
    store = Store(cfg.database_url)
    try:
        _, key = store.create_key("acme")
        case = {"return": {"signed_at": truth["case"]["return"]["signed_at"]}}
        server = Server(data_dir, env=env)
        try:
            first = post(server.url, key, video, case)
            second = post(server.url, key, short, case)
            deadline = time.monotonic() + 60
            while store.get(first["id"]).status != "running" and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            server.kill()  # SIGKILL, the server and its analysis: no clean-up at all
        stuck = store.get(first["id"])
        assert stuck.status == "running" and stuck.report is None
        assert store.get(second["id"]).status == "queued"

        with Server(data_dir, env=env):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                rows = [store.get(first["id"]), store.get(second["id"])]
                if all(r.status in ("done", "failed") for r in rows):
                    break
                time.sleep(0.2)
        schema = report_schema()
        for row, clip in zip(rows, (video, short), strict=True):
            # Recovery, not detection, is tested here: a whole, valid report of that file.
            assert row.status == "done", row.error
            jsonschema.validate(row.report, schema)
            assert row.report["file"]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
        assert rows[0].attempts == 2  # the interrupted run, then the one that finished
        assert rows[1].attempts == 1  # queued all along
    finally:
        store.close()


def _worker_of(server_pid: int) -> int | None:
    """The ``appeal-validator worker`` process that serve started, or None."""
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if int(stat[1]) == server_pid and stat[0] != "Z" and b"worker" in argv:
            return int(entry.name)
    return None


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_replaced_and_the_job_completes(tmp_path: Path) -> None:
    video, truth = fixture_clip("spliced-take")
    data_dir = tmp_path / "data"
    cfg = settings.from_env({"APPEAL_VALIDATOR_DATA_DIR": str(data_dir)})
    settings.ensure_data_dir(cfg)
    store = Store(cfg.database_url)
    try:
        _, key = store.create_key("acme")
        case = {"return": {"signed_at": truth["case"]["return"]["signed_at"]}}
        # The killed run's job is sent again by a recovery round, and rounds come every
        # JOB_LEASE_S: with the default 60 s this test took 71 s, with 3 s it takes 15 s.
        env = {"APPEAL_VALIDATOR_JOB_LEASE_S": "3", "APPEAL_VALIDATOR_POLL_S": "0.1"}
        with Server(data_dir, env=env) as server:
            first = _worker_of(server.proc.pid)
            assert first is not None
            job = post(server.url, key, video, case)
            deadline = time.monotonic() + 60
            while store.get(job["id"]).status != "running" and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(first, signal.SIGKILL)  # the worker's main process; its pool child follows
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                row = store.get(job["id"])
                if row.status in ("done", "failed"):
                    break
                time.sleep(0.2)
            second = _worker_of(server.proc.pid)
        assert second is not None and second != first  # serve started another
        assert row.status == "done", row.error
        assert row.attempts == 2  # the killed run, then the one that finished
        assert row.report["file"]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    finally:
        store.close()
