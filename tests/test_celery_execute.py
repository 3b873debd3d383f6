"""The Celery task's logic without a broker: completion is idempotent on the job store."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("celery", reason="celery is not installed (extra celery)")

from sqlalchemy import update

from validator.jobs.settings import resolve
from validator.jobs.storage import local_storage
from validator.jobs.store import Check, Store, utcnow
from validator.jobs.tasks import Busy, celery_config, execute
from validator.jobs.testing import fake_analysis


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[dict, Store]]:
    cfg = resolve({"DATA_DIR": str(tmp_path / "data"), "JOB_LEASE_S": 5})
    Path(cfg["DATA_DIR"]).mkdir()
    store = Store(cfg["DATABASE_URL"])
    try:
        yield cfg, store
    finally:
        store.close()


def queued(cfg: dict, store: Store) -> str:
    tenant = store.tenant("acme")
    assert tenant is not None
    check_id = str(uuid.uuid4())
    stored = local_storage(cfg["DATA_DIR"]).put_stream(
        str(tenant.id), check_id, io.BytesIO(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    )
    store.create_check(id=check_id, tenant_id=tenant.id, size_bytes=stored.size,
                       sha256=stored.sha256, case=None, facts_hash="x", policy="taobao",
                       policy_digest="d")  # fmt: skip
    return check_id


def runs(cfg: dict) -> int:
    log = Path(cfg["DATA_DIR"]) / "fake-analysis.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_done_job_is_not_run_again(env) -> None:
    cfg, store = env
    check_id = queued(cfg, store)
    assert execute(check_id, cfg, analysis=fake_analysis) == {"id": check_id, "status": "done"}
    assert execute(check_id, cfg, analysis=fake_analysis) == {"id": check_id, "status": "done"}
    assert runs(cfg) == 1


def test_a_live_lease_is_left_alone_a_dead_one_is_rerun(env) -> None:
    cfg, store = env
    check_id = queued(cfg, store)
    assert store.claim(check_id, "another-worker", cfg["JOB_LEASE_S"])
    with pytest.raises(Busy):
        execute(check_id, cfg, analysis=fake_analysis)
    assert runs(cfg) == 0
    with store.session() as s:  # the other worker died: its lease ran out
        s.execute(
            update(Check)
            .where(Check.id == check_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert execute(check_id, cfg, analysis=fake_analysis)["status"] == "done"
    row = store.get(check_id)
    assert row is not None and row.attempts == 2 and runs(cfg) == 1


def test_config_is_json_only_and_acks_late() -> None:
    conf = celery_config({"BROKER_URL": "redis://localhost:6379/0", "JOB_TIMEOUT_S": 60})
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["broker_transport_options"]["visibility_timeout"] > 60


def test_no_broker_url_says_how_to_fix() -> None:
    from validator.errors import ConfigError

    with pytest.raises(ConfigError, match="APPEAL_VALIDATOR_BROKER_URL"):
        celery_config({})
