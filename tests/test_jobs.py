"""The job layer without Flask: settings, store, storage, sniffing, runner, worker limits."""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from _service import app_config, fake_analysis, worker
from sqlalchemy import update

from validator.errors import ConfigError, UsageError
from validator.jobs import settings
from validator.jobs.runner import run_job
from validator.jobs.settings import Settings
from validator.jobs.storage import LocalStorage
from validator.jobs.store import Store, canonical_hash, hash_key
from validator.jobs.tables import Check, utcnow
from validator.jobs.tasks import Recoverer, owner_of
from validator.media.sniff import media_type


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    out = settings.resolve(app_config(tmp_path / "data", JOB_LEASE_S=30))
    settings.ensure_data_dir(out)
    return out


@pytest.fixture
def store(cfg: Settings):
    s = Store(cfg.database_url)
    yield s
    s.close()


def _queue(store: Store, cfg: Settings, content: bytes = b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64,
           **fields) -> Check:  # fmt: skip
    """A queued check with ``content`` stored as its video."""
    tenant = store.tenant("acme")
    storage = LocalStorage(cfg.data_dir / "files")
    import uuid

    check_id = str(uuid.uuid4())
    stored = storage.put_stream(str(tenant.id), check_id, io.BytesIO(content))
    values = dict(
        id=check_id,
        tenant_id=tenant.id,
        sha256=stored.sha256,
        size_bytes=stored.size,
        facts_hash=canonical_hash({}),
        policy="taobao",
        policy_digest="d",
    )
    values.update(fields)
    row, created = store.create_check(**values)
    assert created
    return row


# -- settings ---------------------------------------------------------------------------


def test_settings_defaults_and_derived_database_url(tmp_path: Path) -> None:
    out = settings.resolve({"DATA_DIR": str(tmp_path)})
    # 4 GiB (issue 12): phone originals are large, 500 MB is about 4 minutes of 1080p.
    assert out.max_upload_mb << 20 == 4 << 30 and out.workers == 1 and out.data_dir == tmp_path
    assert out.database_url == f"sqlite:///{tmp_path / 'appeal.db'}"


def test_settings_from_env_reads_the_prefix_and_database_url(tmp_path: Path) -> None:
    env = {
        "APPEAL_VALIDATOR_DATA_DIR": str(tmp_path),
        "APPEAL_VALIDATOR_MAX_UPLOAD_MB": "12",
        "DATABASE_URL": "sqlite:////tmp/x.db",
    }
    out = settings.from_env(env)
    assert out.max_upload_mb == 12
    assert out.database_url == "sqlite:////tmp/x.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("MAX_UPLOAD_MB", "lots", id="not-a-number"),
        pytest.param("WORKERS", "0", id="zero-workers"),
        pytest.param("RUN_POOL", "maybe", id="not-a-bool"),
    ],
)
def test_bad_settings_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"APPEAL_VALIDATOR_{name}"):
        settings.resolve({name: value})


def test_overrides_beat_the_environment_and_every_copy_is_checked(tmp_path: Path) -> None:
    env = {
        "APPEAL_VALIDATOR_WORKERS": "2",
        "DATABASE_URL": "sqlite:////tmp/bare.db",
        "APPEAL_VALIDATOR_DATABASE_URL": "sqlite:////tmp/prefixed.db",
    }
    out = settings.from_env(env, {"WORKERS": 3, "DATA_DIR": str(tmp_path), "TESTING": True})
    assert out.workers == 3 and out.database_url == "sqlite:////tmp/prefixed.db"
    with pytest.raises(ConfigError, match="APPEAL_VALIDATOR_WORKERS"):
        replace(out, workers=0)


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    cfg = settings.resolve({"DATA_DIR": str(tmp_path)})
    first = settings.secret_key(cfg)
    assert settings.secret_key(cfg) == first and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


# -- store ------------------------------------------------------------------------------


def test_api_keys_are_stored_hashed_and_revocable(store: Store) -> None:
    row, key = store.create_key("acme", callback_url="https://example.com/hook")
    assert key.startswith("av_") and row.key_hash == hash_key(key) and key not in row.key_hash
    found = store.authenticate(key)
    assert found is not None and found[1].name == "acme"
    assert store.authenticate(key + "x") is None
    assert store.revoke_key(row.id) and store.authenticate(key) is None


def test_reserved_tenant_names_are_refused(store: Store) -> None:
    with pytest.raises(UsageError, match="reserved"):
        store.create_key("_web")


def test_a_job_is_claimed_once(store: Store, cfg: Settings) -> None:
    row = _queue(store, cfg)
    assert store.claim(row.id, "a", 30)
    assert not store.claim(row.id, "b", 30)
    # Only the owner may report progress or finish it.
    assert not store.set_progress(row.id, "b", 0.5, "decoding")
    assert not store.finish(row.id, "b", {"verdict": "pass"})
    assert store.finish(row.id, "a", {"verdict": "pass"})
    assert store.get(row.id).status == "done"


def test_dead_owners_jobs_are_requeued_then_abandoned(store: Store, cfg: Settings) -> None:
    row = _queue(store, cfg)
    others = []
    for attempt in (1, 2, 3):
        assert store.claim(row.id, f"dead-{attempt}", 30)
        stale = store.get(row.id)  # as recovery read it: the owner died
        others.append(_queue(store, cfg).id)
        assert store.claim(others[-1], "alive", 30)
        requeued, failed = store.requeue([stale], max_attempts=3)
        if attempt < 3:
            assert (requeued, failed) == ([row.id], []) and store.get(row.id).status == "queued"
    assert failed == [row.id]
    done = store.get(row.id)
    assert done.status == "failed" and done.error["code"] == "job_abandoned"
    assert all(store.get(i).status == "running" for i in others)  # only the rows given


def test_a_stale_read_never_requeues_a_job_that_moved_on(store: Store, cfg: Settings) -> None:
    row = _queue(store, cfg)
    assert store.claim(row.id, "dead", 30)
    stale = store.get(row.id)
    assert store.take_over(row.id, "dead", "alive", 30)  # its redelivery got there first
    assert store.requeue([stale], max_attempts=3) == ([], [])
    again = store.get(row.id)
    assert again.status == "running" and again.lease_owner == "alive" and again.attempts == 2


# -- recovery: jobs no message will bring back ----------------------------------------


def _age(store: Store, check_id: str, seconds: float, **values) -> None:
    with store.session() as s:
        s.execute(
            update(Check)
            .where(Check.id == check_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds), **values)
        )


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("queue_empty", [True, False])
def test_recovery_sends_dead_workers_jobs_and_lost_ones_when_the_queue_is_empty(
    store: Store, cfg: Settings, queue_empty: bool
) -> None:
    old, young, dead = (_queue(store, cfg) for _ in range(3))
    _age(store, old.id, 120)  # queued for four rounds: its message is lost if none is left
    assert store.claim(dead.id, "dead-worker", 30)
    _age(store, dead.id, 120, lease_until=utcnow() - timedelta(seconds=1))
    sent: list[str] = []
    Recoverer(store, cfg, sent.append, lambda: queue_empty).round()
    # the dead worker's job always; the old queued one only when no message waits
    # (else its message may be waiting behind others); the young one never
    assert sent == ([dead.id, old.id] if queue_empty else [dead.id])
    assert young.id not in sent and store.get(dead.id).status == "queued"


def test_recovery_requeues_a_job_whose_process_here_is_gone(store: Store, cfg: Settings) -> None:
    """The embedded worker killed with its server: no broker brings the message back."""
    gone, alive = _queue(store, cfg), _queue(store, cfg)
    assert store.claim(gone.id, owner_of("task-gone", pid=_dead_pid()), 3600)
    assert store.claim(alive.id, owner_of("task-alive"), 3600)  # this very process
    sent: list[str] = []
    Recoverer(store, cfg, sent.append, lambda: False).round()
    assert sent == [gone.id]
    assert store.get(gone.id).status == "queued" and store.get(alive.id).status == "running"


def test_recovery_keeps_what_it_could_not_send_and_touches_nothing_without_a_broker(
    store: Store, cfg: Settings
) -> None:
    dead = _queue(store, cfg)
    assert store.claim(dead.id, "dead-worker", 30)
    _age(store, dead.id, 120, lease_until=utcnow() - timedelta(seconds=1))
    calls: list[str] = []

    def flaky(check_id: str) -> None:
        calls.append(check_id)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    def unreachable() -> bool:
        raise OSError("broker unreachable")

    recoverer = Recoverer(store, cfg, flaky, unreachable)
    with pytest.raises(OSError):
        recoverer.round()
    assert store.get(dead.id).status == "running"  # not requeued while unreachable
    recoverer.queue_empty = lambda: False
    assert recoverer.round() == []  # requeued; the send failed
    assert store.get(dead.id).status == "queued"
    assert recoverer.round() == [dead.id]  # ... and is tried again
    assert calls == [dead.id, dead.id]


def test_celery_kills_a_check_the_soft_time_limit_cannot_stop(
    cfg: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from validator.jobs import tasks

    conf = tasks.celery_config(replace(cfg, broker_url="redis://127.0.0.1:6379/15"))
    assert conf["task_soft_time_limit"] == cfg.job_timeout_s
    sent: dict = {}
    monkeypatch.setattr(tasks.run_check, "apply_async", lambda **kw: sent.update(kw))
    tasks.submit_check("c1", cfg)
    assert sent["args"] == ["c1", str(cfg.data_dir)]
    hard = sent["time_limit"]
    assert hard > conf["task_soft_time_limit"]
    # Redis must not hand the message to a second worker while the task may still run
    assert conf["broker_transport_options"]["visibility_timeout"] > hard
    # ... and a job cannot stay running past it without recovery taking it back
    assert tasks.run_deadline_s(cfg) > hard


# -- storage and sniffing ---------------------------------------------------------------


def test_the_sweeper_removes_the_folders_no_check_owns(store: Store, cfg: Settings) -> None:
    """What a killed process leaves behind (a job that wrote after a deletion and died
    before it could clean up, a deletion cut short, a job's staging folder) goes; a live
    check, a running job's staging and an upload that has no row yet stay."""
    from validator.jobs.tasks import run_deadline_s, sweep_orphans

    live = _queue(store, cfg)
    files = cfg.data_dir / "files"
    tenant = files / str(live.tenant_id)
    orphan = tenant / "0b7a3c52-9d1e-4f7a-8c55-2f1d2a7c9e10" / "derived"
    orphan.mkdir(parents=True)
    (orphan / "v0-face-1.jpg").write_bytes(b"picture")
    interrupted = tenant / ".deleted-5e0f6f0e-8f55-4f0c-9d52-0c4c5ef3e7a1"
    interrupted.mkdir()
    (interrupted / "video").write_bytes(b"video")
    young = tenant / "7d1c6c1e-2b1a-4a8e-9d8b-8a4c1b6f5e20"  # an upload a moment old
    young.mkdir()
    killed = tenant / live.id / ".derived-0123456789abcdef"  # a job killed mid-way
    killed.mkdir()
    running = tenant / live.id / ".derived-fedcba9876543210"  # a job at work
    running.mkdir()
    old = time.time() - run_deadline_s(cfg) - 60
    for folder in (orphan.parent, interrupted, tenant / live.id, killed):
        os.utime(folder, (old, old))
    assert sweep_orphans(store, cfg) == 3
    assert not orphan.parent.exists() and not interrupted.exists() and not killed.exists()
    assert (tenant / live.id / "video").exists() and young.exists() and running.exists()
    assert sweep_orphans(store, cfg) == 0


def test_put_stream_is_atomic_and_hashes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    stored = storage.put_stream("1", "abc", io.BytesIO(b"x" * 3_000_000))
    assert stored.size == 3_000_000 and stored.path.read_bytes() == b"x" * 3_000_000
    assert [p.name for p in stored.path.parent.iterdir()] == ["video"]  # no .part left
    assert storage.derived_file("1", "abc", "../video") is None
    with pytest.raises(ValueError):
        storage.video_path("1", "../../etc")
    storage.delete_check("1", "abc")
    assert not (tmp_path / "1" / "abc").exists()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        pytest.param(b"\0\0\0\x20ftypisom" + b"\0" * 40, "video/mp4", id="mp4"),
        pytest.param(b"\0\0\0\x14ftypqt  " + b"\0" * 40, "video/quicktime", id="mov"),
        pytest.param(b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm" + b"\0" * 40, "video/webm", id="webm"),
        pytest.param(b"\x1a\x45\xdf\xa3" + b"\0" * 60, "video/x-matroska", id="mkv"),
        pytest.param(b"RIFF\0\0\0\0AVI LIST" + b"\0" * 40, "video/x-msvideo", id="avi"),
        pytest.param((b"\x47" + b"\0" * 187) * 3, "video/mp2t", id="mpeg-ts"),
        pytest.param(b"RIFF\0\0\0\0WAVEfmt " + b"\0" * 40, None, id="wav"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, None, id="png"),
        pytest.param(b"hello, world", None, id="text"),
    ],
)
def test_sniff_by_content(head: bytes, expected: str | None) -> None:
    assert media_type(head) == expected


# -- runner -----------------------------------------------------------------------------


def test_run_job_stores_the_report_and_reuses_it(store: Store, cfg: Settings) -> None:
    first = _queue(store, cfg)
    assert run_job(first.id, settings=cfg, store=store, analysis=fake_analysis) == {
        "id": first.id,
        "status": "done",
    }
    done = store.get(first.id)
    assert done.report["file"]["sha256"] == done.sha256 and done.progress == 1.0
    second = _queue(store, cfg)  # same bytes, facts and policy
    run_job(second.id, settings=cfg, store=store, analysis=fake_analysis)
    again = store.get(second.id)
    assert again.status == "done" and again.reused_from == first.id
    log = cfg.data_dir / "fake-analysis.log"
    assert len(log.read_text().splitlines()) == 1  # analysed once


def test_a_running_job_never_shows_stage_done(store: Store, cfg: Settings) -> None:
    """docs/api.md: queued -> running (starting, probing, decoding, thumbnails) -> done
    (stage done, progress 1) or failed; never running with stage done."""
    row = _queue(store, cfg)
    seen: list[tuple[str, str, float]] = []

    def analysis(path: str, *, progress, **kw: object) -> dict:
        # The stages the library reports, "done" included (check_case ends with it).
        for fraction, stage in ((0.0, "probing"), (0.5, "decoding"), (0.99, "thumbnails"),
                                (1.0, "done")):  # fmt: skip
            time.sleep(0.6)  # past the runner's throttle: each one is written
            progress(fraction, stage)
            now = store.get(row.id)
            seen.append((now.status, now.stage, now.progress))
        return fake_analysis(path, progress=lambda *a: None, **kw)

    assert run_job(row.id, settings=cfg, store=store, analysis=analysis)["status"] == "done"
    assert seen[:3] == [("running", "probing", 0.0), ("running", "decoding", 0.5),
                        ("running", "thumbnails", 0.99)]  # fmt: skip
    assert all(stage != "done" for status, stage, _ in seen if status == "running"), seen
    done = store.get(row.id)
    assert (done.status, done.stage, done.progress) == ("done", "done", 1.0)


def test_run_job_records_the_precise_input_error(store: Store, cfg: Settings) -> None:
    row = _queue(store, cfg, content=b"\0\0\0\x18ftypmp42" + b"\0" * 10)
    result = run_job(row.id, settings=cfg, store=store)  # the real check
    assert result["status"] == "failed"
    assert result["error"]["code"] in ("undecodable", "not_a_video", "no_video_stream")


def test_a_deleted_check_stops_its_running_analysis(
    store: Store, cfg: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    row = _queue(store, cfg)
    storage = LocalStorage(cfg.data_dir / "files")
    reached: list[str] = []

    def analysis(path: str, *, out_dir: str, progress, **kw: object) -> dict:
        progress(0.1, "decoding")
        store.delete_check(row.id)  # what DELETE does: the row, then the files
        storage.delete_check(str(row.tenant_id), row.id)
        progress(1.0, "decoding")  # the next progress write finds no row: stop here
        reached.append("the end")
        return fake_analysis(path, out_dir=out_dir, progress=progress, **kw)

    assert run_job(row.id, settings=cfg, store=store, analysis=analysis) == {
        "id": row.id,
        "status": "missing",
    }
    assert reached == [] and "internal error" not in caplog.text
    assert not (cfg.data_dir / "files" / str(row.tenant_id) / row.id).exists()


def test_run_job_turns_a_bug_into_internal_error(store: Store, cfg: Settings) -> None:
    row = _queue(store, cfg)

    def broken(*a: object, **kw: object) -> dict:
        raise RuntimeError("boom")

    result = run_job(row.id, settings=cfg, store=store, analysis=broken)
    assert result["error"]["code"] == "internal_error" and "boom" not in json.dumps(result)


# -- the worker: time limits, crashes, duplicates, stops -----------------------------------


def _submit(cfg: Settings, *check_ids: str) -> None:
    """What the web process does after inserting the row: send the job's message."""
    from validator.jobs import tasks

    tasks.make_celery(cfg)
    for check_id in check_ids:
        tasks.submit_check(check_id, cfg)


def _wait_ended(store: Store, check_ids: list[str], timeout: float = 90) -> list[Check]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [store.get(i) for i in check_ids]
        if all(r.status in ("done", "failed") for r in rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"still {[store.get(i).status for i in check_ids]} after {timeout} s")


@pytest.mark.parametrize(
    ("target", "code"),
    [
        pytest.param("_service:slow_analysis", "job_timeout", id="hung-decoder"),
        pytest.param("_service:crash_analysis", "job_crashed", id="segfault"),
    ],
)
def test_worker_never_leaves_a_job_running(
    store: Store, cfg: Settings, target: str, code: str
) -> None:
    cfg = replace(cfg, job_timeout_s=2.0, job_max_attempts=2)
    row = _queue(store, cfg)
    _submit(cfg, row.id)
    with worker(cfg, target=target):
        (done,) = _wait_ended(store, [row.id])
    assert done.status == "failed" and done.error["code"] == code, done.error
    assert done.lease_owner is None and done.finished_at is not None
    # a crash is tried again (it may be the OOM killer), up to JOB_MAX_ATTEMPTS
    assert done.attempts == (2 if code == "job_crashed" else 1)


def test_two_workers_and_duplicate_messages_run_each_job_once(store: Store, cfg: Settings) -> None:
    rows = [_queue(store, cfg, content=f"video {i}".encode()) for i in range(4)]
    ids = [r.id for r in rows]
    _submit(cfg, *ids, *ids)  # every message twice (a resend, a redelivery)
    with (
        worker(cfg, target="_service:fake_analysis"),
        worker(cfg, target="_service:fake_analysis"),
    ):
        done = _wait_ended(store, ids)
        time.sleep(2)  # the duplicates are consumed too
    assert all(r.status == "done" and r.attempts == 1 for r in done)
    log = cfg.data_dir / "fake-analysis.log"
    assert sorted(log.read_text().splitlines()) == sorted(
        str(cfg.data_dir / "files" / str(r.tenant_id) / r.id / "video") for r in rows
    )


def test_a_job_stopped_with_its_worker_runs_again_at_the_next_start(
    store: Store, cfg: Settings
) -> None:
    from validator.jobs.tasks import start_worker, stop_worker

    row = _queue(store, cfg)
    _submit(cfg, row.id)
    # Other tests' servers and workers may still be winding down: only new children count.
    before = _children()
    proc = start_worker(cfg, analysis_target="_service:slow_analysis")
    try:
        deadline = time.monotonic() + 60
        while store.get(row.id).stage != "decoding" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.get(row.id).stage == "decoding"
    finally:
        stop_worker(proc, timeout=2)  # warm, then cold: the analysis is killed
    assert not _children() - before
    assert store.get(row.id).status in ("running", "queued")  # not lost, not failed
    with worker(cfg, target="_service:fake_analysis"):
        (done,) = _wait_ended(store, [row.id])
    assert done.status == "done" and done.attempts == 2


def test_the_embedded_broker_reports_the_messages_waiting(cfg: Settings) -> None:
    """Recovery asks this (kombu's public passive declare) before resending lost jobs."""
    from validator.jobs import tasks

    app = tasks.make_celery(cfg)
    assert tasks.queue_size(app, cfg.queue) == 0
    _submit(cfg, "a", "b")
    assert tasks.queue_size(app, cfg.queue) == 2


def test_a_job_whose_message_never_came_is_sent_by_a_worker(store: Store, cfg: Settings) -> None:
    """The web process killed between inserting the row and enqueueing: the embedded
    broker holds no message, and the worker's recovery sends the job."""
    cfg = replace(cfg, job_lease_s=1.0)
    row = _queue(store, cfg)  # no _submit: no message
    with worker(cfg, target="_service:fake_analysis"):
        (done,) = _wait_ended(store, [row.id], timeout=60)
    assert done.status == "done" and done.attempts == 1, done.error


def stuck_analysis(path: str, **kw: object) -> dict:
    """Stuck where the soft time limit cannot stop it (a decoder's C code)."""
    from celery.exceptions import SoftTimeLimitExceeded

    kw["progress"](0.1, "decoding")  # type: ignore[operator]
    while True:
        try:
            time.sleep(3600)
        except SoftTimeLimitExceeded:
            continue


def test_the_hard_time_limit_fails_the_job_its_process_cannot(store: Store, cfg: Settings) -> None:
    from validator.jobs import tasks

    cfg = replace(cfg, job_timeout_s=1.0)
    row = _queue(store, cfg)
    tasks.make_celery(cfg)
    # submit_check's message, with a hard limit of 3 s instead of JOB_TIMEOUT_S + 30
    tasks.run_check.apply_async(args=[row.id, str(cfg.data_dir)], time_limit=3)
    with worker(cfg, target="test_jobs:stuck_analysis"):
        (done,) = _wait_ended(store, [row.id], timeout=60)
    assert done.status == "failed" and done.error["code"] == "job_timeout"
    assert done.attempts == 1 and done.lease_owner is None


def greedy_analysis(path: str, **kw: object) -> dict:
    """An analysis that wants 3 GB (a decoder's buffers for a huge picture), except for
    a video that reads ``modest``; untouched zeros, so without a limit it costs no
    memory at all and finishes."""
    import numpy as np
    from _service import fake_analysis

    kw["progress"](0.1, "decoding")  # type: ignore[operator]
    if Path(path).read_bytes() != b"modest":
        buffers = np.zeros(3 << 30, np.uint8)
        del buffers
    return fake_analysis(path, **kw)  # type: ignore[arg-type]


def test_an_analysis_over_the_memory_bound_fails_its_job_not_the_worker(
    store: Store, cfg: Settings
) -> None:
    cfg = replace(cfg, worker_max_memory_mb=1536)
    greedy, after = _queue(store, cfg), _queue(store, cfg, content=b"modest")
    _submit(cfg, greedy.id, after.id)
    with worker(cfg, target="test_jobs:greedy_analysis"):
        failed, done = _wait_ended(store, [greedy.id, after.id], timeout=60)
    assert failed.status == "failed" and failed.attempts == 1, failed.error
    assert failed.error["code"] == "job_out_of_memory"
    assert failed.error["details"] == {"reason": "memory", "limit_mb": 1536}
    assert "WORKER_MAX_MEMORY_MB" in failed.error["message"]
    # the pool process lived on: the next job ran in it, once (no crash, no redelivery)
    assert done.status == "done" and done.attempts == 1, done.error


def test_the_worker_of_a_killed_server_finishes_its_job_and_exits(
    store: Store, cfg: Settings, tmp_path: Path
) -> None:
    """kill -9 of serve alone: its worker must not run on, orphaned, beside the next one."""
    import signal
    import subprocess
    import sys

    row = _queue(store, cfg)
    _submit(cfg, row.id)
    server = subprocess.Popen(  # stands for serve: starts the worker, then only waits
        [sys.executable, "-c",
         "import json, sys, time; from validator.jobs.tasks import start_worker\n"
         "from validator.jobs.settings import resolve\n"
         "w = start_worker(resolve(json.loads(sys.argv[1])), "
         "analysis_target='test_celery_worker:sleepy_analysis')\n"
         "print(w.pid, flush=True); time.sleep(600)", json.dumps(cfg.as_config(), default=str)],
        stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    worker_pid = int(server.stdout.readline())
    try:
        starts = cfg.data_dir / "starts.log"
        deadline = time.monotonic() + 60
        while not starts.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert starts.exists()  # the job is in hand (it sleeps 3 s)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 60
        while _running(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(worker_pid), "the orphaned worker runs on"
    finally:
        server.stdout.close()
        from _service import kill_tree

        kill_tree(worker_pid)
    done = store.get(row.id)
    assert done.status == "done" and done.attempts == 1  # finished before it left


def _running(pid: int) -> bool:
    """True while ``pid`` exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _children() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _is_child_of_us(int(p))}


def _is_child_of_us(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False


def threads_analysis(path: str, **kw: Any) -> dict[str, Any]:
    """``fake_analysis``, noting the threads this pool process analyses with."""
    import cv2

    from validator.media import source

    line = f"{source._analysis_threads} {cv2.getNumThreads()}\n"
    with open(Path(kw["out_dir"]).parents[3] / "threads.log", "a") as f:
        f.write(line)
    return fake_analysis(path, **kw)


@pytest.mark.parametrize(
    ("concurrency", "setting", "want"),
    [("cores", 0, "1 1"), (1, 0, None), (1, 1, "1 1")],
    ids=["fills-the-cores", "one-of-several-cores", "set"],
)
def test_a_worker_analyses_with_one_thread_when_it_fills_the_cores(
    store: Store, cfg: Settings, concurrency: int | str, setting: int, want: str | None
) -> None:
    """A worker running as many analyses as there are cores (or told to by
    ANALYSIS_THREADS) decodes and runs OpenCV on one thread in each; one that leaves
    cores free keeps their own choice (one per core)."""
    import cv2

    cores = os.cpu_count() or 1
    n = cores if concurrency == "cores" else int(concurrency)
    if want is None and cores == 1:
        pytest.skip("one core: a single analysis fills it")
    cfg = replace(cfg, analysis_threads=setting)
    row = _queue(store, cfg)
    _submit(cfg, row.id)
    with worker(cfg, target="test_jobs:threads_analysis", concurrency=n):
        (done,) = _wait_ended(store, [row.id])
    assert done.status == "done", done.error
    seen = (cfg.data_dir / "threads.log").read_text().strip()
    assert seen == (want or f"0 {cv2.getNumThreads()}")
