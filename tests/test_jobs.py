"""The job layer without Flask: settings, store, storage, sniffing, runner, pool limits."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from validator.errors import ConfigError, UsageError
from validator.jobs import settings
from validator.jobs.pool import Pool
from validator.jobs.runner import run_job
from validator.jobs.storage import LocalStorage
from validator.jobs.store import Check, Store, canonical_hash, hash_key, utcnow
from validator.jobs.testing import app_config, fake_analysis
from validator.media.sniff import media_type


@pytest.fixture
def cfg(tmp_path: Path) -> dict:
    out = settings.resolve(app_config(tmp_path / "data", JOB_LEASE_S=30))
    settings.ensure_data_dir(out)
    return out


@pytest.fixture
def store(cfg: dict):
    s = Store(cfg["DATABASE_URL"])
    yield s
    s.close()


def _queue(store: Store, cfg: dict, content: bytes = b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64,
           **fields) -> Check:  # fmt: skip
    """A queued check with ``content`` stored as its video."""
    tenant = store.tenant("acme")
    storage = LocalStorage(Path(cfg["DATA_DIR"]) / "files")
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
    assert out["MAX_UPLOAD_MB"] == 500 and out["WORKERS"] == 1
    assert out["DATABASE_URL"] == f"sqlite:///{tmp_path / 'appeal.db'}"


def test_settings_from_env_reads_the_prefix_and_database_url(tmp_path: Path) -> None:
    env = {
        "APPEAL_VALIDATOR_DATA_DIR": str(tmp_path),
        "APPEAL_VALIDATOR_MAX_UPLOAD_MB": "12",
        "DATABASE_URL": "sqlite:////tmp/x.db",
    }
    out = settings.from_env(env)
    assert out["MAX_UPLOAD_MB"] == 12
    assert out["DATABASE_URL"] == "sqlite:////tmp/x.db"


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


def test_a_job_is_claimed_once(store: Store, cfg: dict) -> None:
    row = _queue(store, cfg)
    assert store.claim(row.id, "a", 30)
    assert not store.claim(row.id, "b", 30)
    assert store.claim_next("b", 30) is None
    # Only the owner may report progress or finish it.
    assert not store.set_progress(row.id, "b", 0.5, "decoding")
    assert not store.finish(row.id, "b", {"verdict": "pass"})
    assert store.finish(row.id, "a", {"verdict": "pass"})
    assert store.get(row.id).status == "done"


def test_expired_leases_are_requeued_then_abandoned(store: Store, cfg: dict) -> None:
    row = _queue(store, cfg)
    for attempt in (1, 2, 3):
        assert store.claim(row.id, f"dead-{attempt}", 30)
        with store.session() as s:  # the owner died: nobody renews the lease
            s.execute(
                update(Check)
                .where(Check.id == row.id)
                .values(lease_until=utcnow() - timedelta(seconds=1))
            )
        requeued, failed = store.requeue_expired(max_attempts=3)
        if attempt < 3:
            assert (requeued, failed) == ([row.id], []) and store.get(row.id).status == "queued"
    assert failed == [row.id]
    done = store.get(row.id)
    assert done.status == "failed" and done.error["code"] == "job_abandoned"


# -- the Celery mode's sweeper ---------------------------------------------------------


def _age(store: Store, check_id: str, seconds: float, **values) -> None:
    with store.session() as s:
        s.execute(
            update(Check)
            .where(Check.id == check_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds), **values)
        )


@pytest.mark.parametrize("broker_empty", [True, False, None])
def test_sweeper_sends_expired_jobs_and_lost_ones_when_the_broker_is_empty(
    store: Store, cfg: dict, monkeypatch: pytest.MonkeyPatch, broker_empty: bool | None
) -> None:
    from validator.jobs.sweeper import Sweeper

    old, young, dead = (_queue(store, cfg) for _ in range(3))
    _age(store, old.id, 120)  # queued for four leases: its message is lost if none is left
    assert store.claim(dead.id, "dead-worker", 30)
    _age(store, dead.id, 120, lease_until=utcnow() - timedelta(seconds=1))
    sent: list[str] = []
    sweeper = Sweeper(cfg, send=sent.append)
    monkeypatch.setattr(sweeper, "broker_empty", lambda: broker_empty)
    try:
        sweeper.sweep_once()
    finally:
        sweeper.stop()
    # the dead worker's job always; the old queued one only when the broker is known
    # empty (else its message may be waiting behind others); the young one never
    assert sent == ([dead.id, old.id] if broker_empty else [dead.id])
    assert young.id not in sent and store.get(dead.id).status == "queued"


def test_sweeper_asks_only_redis_whether_messages_wait(cfg: dict) -> None:
    from validator.jobs.sweeper import Sweeper

    sweeper = Sweeper({**cfg, "BROKER_URL": "amqp://guest@localhost//"}, send=print)
    try:
        assert sweeper.broker_empty() is None  # cannot say: lost jobs are not guessed at
    finally:
        sweeper.stop()


def test_one_holder_of_a_file_lock_at_a_time(tmp_path: Path) -> None:
    from validator.jobs.leader import FileLock

    a, b = FileLock(tmp_path / "x.lock", "a"), FileLock(tmp_path / "x.lock", "b")
    assert a.try_acquire() and not b.try_acquire()
    assert (tmp_path / "x.lock").read_text() == "a\n"
    a.release()
    assert b.try_acquire() and b.held and not a.held
    b.release()


def test_celery_kills_a_check_the_soft_time_limit_cannot_stop(
    cfg: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("celery", reason="celery is not installed")
    from validator.jobs import tasks

    conf = tasks.celery_config({**cfg, "BROKER_URL": "redis://127.0.0.1:6379/15"})
    assert conf["task_soft_time_limit"] == cfg["JOB_TIMEOUT_S"]
    sent: dict = {}
    monkeypatch.setattr(tasks.run_check, "apply_async", lambda **kw: sent.update(kw))
    tasks.submit_check("c1", cfg)
    assert sent["args"] == ["c1", str(cfg["DATA_DIR"])]
    hard = sent["time_limit"]
    assert hard > conf["task_soft_time_limit"]
    # Redis must not hand the message to a second worker while the task may still run
    assert conf["broker_transport_options"]["visibility_timeout"] > hard


def test_sweeper_keeps_what_it_could_not_send_and_touches_nothing_without_a_broker(
    store: Store, cfg: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from validator.jobs.sweeper import Sweeper

    dead = _queue(store, cfg)
    assert store.claim(dead.id, "dead-worker", 30)
    _age(store, dead.id, 120, lease_until=utcnow() - timedelta(seconds=1))
    calls: list[str] = []

    def flaky(check_id: str) -> None:
        calls.append(check_id)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    sweeper = Sweeper(cfg, send=flaky)
    try:
        monkeypatch.setattr(sweeper, "broker_empty", lambda: (_ for _ in ()).throw(OSError()))
        with pytest.raises(OSError):
            sweeper.sweep_once()
        assert store.get(dead.id).status == "running"  # not requeued while unreachable
        monkeypatch.setattr(sweeper, "broker_empty", lambda: False)
        assert sweeper.sweep_once() == []  # requeued; the send failed
        assert store.get(dead.id).status == "queued"
        assert sweeper.sweep_once() == [dead.id]  # ... and is tried again
    finally:
        sweeper.stop()
    assert calls == [dead.id, dead.id]


# -- storage and sniffing ---------------------------------------------------------------


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


def test_run_job_stores_the_report_and_reuses_it(store: Store, cfg: dict) -> None:
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
    log = Path(cfg["DATA_DIR"]) / "fake-analysis.log"
    assert len(log.read_text().splitlines()) == 1  # analysed once


def test_run_job_records_the_precise_input_error(store: Store, cfg: dict) -> None:
    row = _queue(store, cfg, content=b"\0\0\0\x18ftypmp42" + b"\0" * 10)
    result = run_job(row.id, settings=cfg, store=store)  # the real check
    assert result["status"] == "failed"
    assert result["error"]["code"] in ("undecodable", "not_a_video", "no_video_stream")


def test_run_job_turns_a_bug_into_internal_error(store: Store, cfg: dict) -> None:
    row = _queue(store, cfg)

    def broken(*a: object, **kw: object) -> dict:
        raise RuntimeError("boom")

    result = run_job(row.id, settings=cfg, store=store, analysis=broken)
    assert result["error"]["code"] == "internal_error" and "boom" not in json.dumps(result)


# -- the pool: child processes, time limit, crashes ---------------------------------------


@pytest.mark.parametrize(
    ("target", "code"),
    [
        pytest.param("validator.jobs.testing:slow_analysis", "job_timeout", id="hung-decoder"),
        pytest.param("validator.jobs.testing:crash_analysis", "job_crashed", id="segfault"),
    ],
)
def test_pool_never_leaves_a_job_running(store: Store, cfg: dict, target: str, code: str) -> None:
    row = _queue(store, cfg)
    pool = Pool({**cfg, "JOB_TIMEOUT_S": 2.0}, target=target).start()
    try:
        assert pool.wait_idle(60)
    finally:
        pool.stop()
    done = store.get(row.id)
    assert done.status == "failed" and done.error["code"] == code
    assert done.lease_owner is None and done.finished_at is not None


def test_pool_runs_once_per_data_dir(cfg: dict) -> None:
    pools = [Pool(cfg).start(), Pool(cfg).start()]
    try:
        # Either may win the lock (both start threads at once); exactly one leads.
        deadline = time.monotonic() + 10
        while not any(p.leader for p in pools) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the loser has had its chance to (wrongly) lock too
        assert sorted(p.leader for p in pools) == [False, True]
        leader = next(p for p in pools if p.leader)
        standby = next(p for p in pools if not p.leader)
        leader.stop()
        deadline = time.monotonic() + 10  # the stand-by takes over
        while not standby.leader and time.monotonic() < deadline:
            time.sleep(0.05)
        assert standby.leader
    finally:
        for p in pools:
            p.stop()


def test_a_clean_stop_requeues_the_running_job(store: Store, cfg: dict) -> None:
    row = _queue(store, cfg)
    # Other tests' servers and workers may still be winding down: only new children count.
    before = _children()
    pool = Pool(cfg, target="validator.jobs.testing:slow_analysis").start()
    try:
        deadline = time.monotonic() + 30
        while store.get(row.id).stage != "decoding" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pool.stop()
    again = store.get(row.id)
    assert again.status == "queued" and again.lease_owner is None
    assert not _children() - before


def _children() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _is_child_of_us(int(p))}


def _is_child_of_us(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False
