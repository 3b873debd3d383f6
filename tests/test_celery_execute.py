"""The Celery task's logic without a broker: completion is idempotent on the job store."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import update

from validator.jobs.settings import Settings, resolve
from validator.jobs.storage import local_storage
from validator.jobs.store import Store
from validator.jobs.tables import Check
from validator.jobs.tasks import celery_config, execute, owner_of
from validator.jobs.testing import fake_analysis


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Settings, Store]]:
    cfg = resolve({"DATA_DIR": str(tmp_path / "data"), "JOB_LEASE_S": 5})
    cfg.data_dir.mkdir()
    store = Store(cfg.database_url)
    try:
        yield cfg, store
    finally:
        store.close()


def queued(cfg: Settings, store: Store) -> str:
    tenant = store.tenant("acme")
    assert tenant is not None
    check_id = str(uuid.uuid4())
    stored = local_storage(cfg.data_dir).put_stream(
        str(tenant.id), check_id, io.BytesIO(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    )
    store.create_check(id=check_id, tenant_id=tenant.id, size_bytes=stored.size,
                       sha256=stored.sha256, case=None, facts_hash="x", policy="taobao",
                       policy_digest="d")  # fmt: skip
    return check_id


def runs(cfg: Settings) -> int:
    log = cfg.data_dir / "fake-analysis.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_done_job_is_not_run_again(env) -> None:
    cfg, store = env
    check_id = queued(cfg, store)
    done = {"id": check_id, "status": "done"}
    assert execute(check_id, cfg, task_id="t1", analysis=fake_analysis) == done
    assert execute(check_id, cfg, task_id="t1", analysis=fake_analysis) == done  # redelivered
    assert execute(check_id, cfg, task_id="t2", analysis=fake_analysis) == done  # resent
    assert runs(cfg) == 1


def test_another_messages_run_is_left_alone_a_redelivery_takes_over(env) -> None:
    cfg, store = env
    check_id = queued(cfg, store)
    # A duplicate message (another task id) while a worker runs the job: dropped.
    assert store.claim(check_id, owner_of("other-task"), 3600)
    assert execute(check_id, cfg, task_id="mine", analysis=fake_analysis)["status"] == "running"
    assert runs(cfg) == 0
    with store.session() as s:  # the job's own message, whose first worker died
        s.execute(
            update(Check)
            .where(Check.id == check_id)
            .values(lease_owner=owner_of("mine", pid=_dead_pid()))
        )
    assert execute(check_id, cfg, task_id="mine", analysis=fake_analysis)["status"] == "done"
    row = store.get(check_id)
    assert row is not None and row.attempts == 2 and runs(cfg) == 1


def test_a_job_whose_worker_keeps_dying_is_abandoned(env) -> None:
    cfg, store = env
    check_id = queued(cfg, store)
    assert store.claim(check_id, owner_of("mine", pid=_dead_pid()), 3600)
    with store.session() as s:
        s.execute(update(Check).where(Check.id == check_id).values(attempts=3))
    result = execute(check_id, replace(cfg, job_max_attempts=3), task_id="mine",
                     analysis=fake_analysis)  # fmt: skip
    assert result["status"] == "failed" and result["error"]["code"] == "job_abandoned"
    assert runs(cfg) == 0


def test_config_is_json_only_and_acks_late() -> None:
    conf = celery_config(resolve({"BROKER_URL": "redis://localhost:6379/0", "JOB_TIMEOUT_S": 60}))
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["broker_transport_options"]["visibility_timeout"] > 60


def test_without_a_broker_url_the_broker_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    conf = celery_config(resolve({"DATA_DIR": str(tmp_path)}))
    assert conf["broker_url"] == f"sqla+sqlite:///{tmp_path / 'broker.db'}"
    assert conf["result_backend"] == f"db+sqlite:///{tmp_path / 'results.db'}"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
