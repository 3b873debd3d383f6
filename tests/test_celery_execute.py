"""The Celery task's logic without a broker: completion is idempotent on the job store."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from _service import fake_analysis
from sqlalchemy import update

from validator.jobs.settings import Settings, resolve
from validator.jobs.storage import local_storage
from validator.jobs.store import Store
from validator.jobs.tables import Check
from validator.jobs.tasks import celery_config, execute, owner_of


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Settings, Store]]:
    cfg = resolve({"DATA_DIR": str(tmp_path / "data"), "JOB_LEASE_S": 5})
    cfg.data_dir.mkdir()
    store = Store(cfg.database_url)
    try:
        yield cfg, store
    finally:
        store.close()


def queued(cfg: Settings, store: Store, tenant_name: str = "acme") -> str:
    """A queued check of a file of its own (the same file's report would be reused)."""
    tenant = store.tenant(tenant_name)
    assert tenant is not None
    check_id = str(uuid.uuid4())
    stored = local_storage(cfg.data_dir).put_stream(
        str(tenant.id), check_id, io.BytesIO(b"\0\0\0\x18ftypmp42" + check_id.encode() + b"\0" * 28)
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


def ran(cfg: Settings) -> list[str]:
    """The checks the fake analysis ran, in order (its log names each check's folder)."""
    log = cfg.data_dir / "fake-analysis.log"
    return [Path(line).parent.name for line in log.read_text().splitlines()]


def test_one_tenants_many_uploads_do_not_hold_another_s_check_behind_them(env) -> None:
    """Issue 13, item 3: messages arrive in upload order (a FIFO); jobs start round-robin."""
    cfg, store = env
    many = [queued(cfg, store, "busy") for _ in range(12)]
    assert execute(many[0], cfg, task_id="m0", analysis=fake_analysis)["status"] == "done"
    single = queued(cfg, store, "other")  # uploaded while busy's first check ran
    # The next message in the queue is busy's second upload's, but it is other's turn.
    execute(many[1], cfg, task_id="m1", analysis=fake_analysis)
    assert ran(cfg) == [many[0], single]
    for i, check_id in enumerate([*many[2:], single], start=2):
        execute(check_id, cfg, task_id=f"m{i}", analysis=fake_analysis)
    # Every job ran exactly once, each tenant's in upload order; other's message, last
    # in the queue, found its check done.
    assert ran(cfg) == [many[0], single, *many[1:]]
    assert all(store.get(c).status == "done" for c in [*many, single])


def test_a_tenant_at_its_limit_waits_while_others_start(env) -> None:
    cfg, store = env
    cfg = replace(cfg, tenant_max_running=1)
    first, second = queued(cfg, store, "busy"), queued(cfg, store, "busy")
    assert store.claim(first, owner_of("elsewhere"), 3600)  # running on another worker
    # busy is at its limit: this message starts nothing and leaves second queued.
    assert execute(second, cfg, task_id="m1", analysis=fake_analysis)["status"] == "queued"
    assert store.get(second).status == "queued" and runs(cfg) == 0
    single = queued(cfg, store, "other")
    assert store.claim_next(owner_of("m2"), 3600, tenant_limit=1) == single
    # Two workers choosing at once cannot both take busy past its limit: the claim that
    # would is given back.
    store.fail(single, owner_of("m2"), {"code": "x", "message": "x", "details": {}})
    assert store.claim_next(owner_of("m3"), 3600, tenant_limit=1) is None
    assert store.claim_next(owner_of("m4"), 3600, tenant_limit=2) == second


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


def test_a_batch_case_in_error_is_listed_without_a_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case that ended in error (a time limit, a bad case.json) has no verdict: the task
    lists it as an error for the batch's exit 4, it does not crash on the missing key (seen
    under load: a soft time limit, then KeyError('verdict') and exit 70)."""
    import validator.batch.work as work
    from validator.jobs.tasks import run_batch_case

    def errored(job: dict) -> dict:
        return {"case_id": job["case_id"], "key": job["key"], "status": "error",
                "error": {"code": "job_timeout"}}  # fmt: skip

    monkeypatch.setattr(work, "run_case", errored)
    job = {"case_id": "c1", "key": "k", "out_dir": str(tmp_path), "slug": "c1"}
    assert run_batch_case.run(job) == {"case_id": "c1", "status": "error", "verdict": None}
