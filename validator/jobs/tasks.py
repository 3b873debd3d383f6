"""Celery adapter: the same jobs as the in-process pool, run by ``appeal-validator worker``.

Follows Flask's ``examples/celery``: ``celery_init_app(app)`` configures Celery from the
app's settings, and ``@shared_task`` tasks take ids (a check id and the storage path,
``DATA_DIR`` on the shared mount) and return JSON; no frames or reports are pickled
(the serializer is JSON only). The task only handles delivery; ``execute`` holds the
logic and ``runner.run_job`` the analysis, so both are testable without a broker.

Delivery is at least once, completion exactly once:

* ``acks_late`` + ``reject_on_worker_lost``: a message is acknowledged only after the
  task returned; a worker killed mid-job (``kill -9``, OOM, a lost machine) leaves it
  unacknowledged and Redis redelivers it after the visibility timeout
  (``JOB_TIMEOUT_S`` + the larger of ``JOB_LEASE_S`` and the hard limit's grace: longer
  than a check's task may live).
* A message lost on the way (a Redis restart, a task killed at the hard time limit)
  is sent again by the service's sweeper (``sweeper.py``).
* ``execute`` is idempotent on the job store: a ``done``/``failed`` job is returned
  as it is; a ``running`` job whose lease is still renewed (a live worker has it) is
  retried later; a ``running`` job with a dead lease is requeued and run again (after
  ``JOB_MAX_ATTEMPTS`` it fails with ``job_abandoned``). Finishing is a conditional
  UPDATE on the lease owner, so a late duplicate can never finish a job twice.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from celery import Celery, Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_process_shutdown

from validator.jobs import settings as settings_mod
from validator.jobs.runner import JobTimeout, status_of
from validator.jobs.store import Store

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

DEFAULT_TARGET = "validator.jobs.runner:analyse"
TARGET_CONF = "appeal_analysis_target"  # the worker's analysis function (tests swap it)
HARD_LIMIT_GRACE_S = 30  # after the soft limit, a check's task is killed this much later


class Busy(Exception):
    """A live worker holds the job's lease; look again in ``retry_in`` seconds."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"job leased by a live worker; retry in {retry_in:.0f} s")
        self.retry_in = retry_in


def celery_config(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Celery's configuration from the service's settings (declared in settings.py)."""
    cfg = settings_mod.resolve(settings)
    if not cfg["BROKER_URL"]:
        from validator.errors import ConfigError

        raise ConfigError(
            "the Celery mode needs APPEAL_VALIDATOR_BROKER_URL, e.g. redis://localhost:6379/0",
            details={"setting": "BROKER_URL"},
        )
    # Longer than a check's task may live (the hard limit), and than its lease: Redis
    # must not hand a running job's message to a second worker.
    visibility = int(cfg["JOB_TIMEOUT_S"] + max(cfg["JOB_LEASE_S"], HARD_LIMIT_GRACE_S)) + 1
    transport = {
        "visibility_timeout": visibility,
        # kombu sweeps for messages of dead workers every interval x throttle seconds
        # (100 s by default); one cheap ZRANGE per sweep, so sweep every lease (<= 10 s).
        "unacked_restore_interval": min(10.0, max(1.0, cfg["JOB_LEASE_S"])),
        "unacked_restore_throttle": 1,
    }
    return {
        "broker_url": cfg["BROKER_URL"],
        "result_backend": cfg["BROKER_URL"],
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": cfg["QUEUE"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # one job per process: the next waits in Redis
        "task_soft_time_limit": cfg["JOB_TIMEOUT_S"],
        "broker_transport_options": transport,
        "result_expires": 7 * 86400,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "appeal_settings": cfg,
    }


def make_celery(settings: Mapping[str, Any], *, main: str = "appeal_validator") -> Celery:
    """A Flask-free Celery app (the worker, ``batch --distributed``)."""
    app = Celery(main)
    app.config_from_object(celery_config(settings))
    app.set_default()
    return app


def celery_init_app(app: Flask) -> Celery:
    """Flask's ``examples/celery`` factory: tasks run inside the app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app.config))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def _resolve(target: str) -> Callable[..., dict[str, Any]]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _timed(analysis: Callable[..., dict[str, Any]], limit_s: float) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return analysis(*args, **kwargs)
        except SoftTimeLimitExceeded:
            raise JobTimeout(limit_s) from None

    return run


def execute(
    check_id: str,
    settings: Mapping[str, Any],
    *,
    analysis: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run check ``check_id`` at most to completion once; see the module docstring.

    Raises ``Busy`` when a live worker holds the job (the task retries later).
    """
    from validator.jobs.runner import analyse, run_job

    cfg = settings_mod.resolve(settings)
    store = Store(cfg["DATABASE_URL"])
    try:
        row = store.get(check_id)
        if row is None or row.status in ("done", "failed"):
            return status_of(store, check_id)  # already complete (a redelivery): nothing to do
        if row.status == "running":
            left = (row.lease_until or datetime.now(UTC)) - datetime.now(UTC)
            if left.total_seconds() > 0:
                raise Busy(left.total_seconds() + 1)
            store.requeue_expired(cfg["JOB_MAX_ATTEMPTS"], ids=[check_id])  # a dead worker's
        owner = f"celery:{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease = cfg["JOB_LEASE_S"]
        if not store.claim(check_id, owner, lease):
            row = store.get(check_id)
            if row is not None and row.status == "running":
                raise Busy(lease)
            return status_of(store, check_id)
        stop = threading.Event()

        def heartbeat() -> None:  # the lease lives as long as this process does
            while not stop.wait(min(lease / 3, 5.0)):
                try:
                    if not store.renew(check_id, owner, lease):
                        return  # no longer ours: finishing will be refused, exactly once
                except Exception:  # a database hiccup: try again at the next beat
                    log.warning("check %s: lease renewal failed", check_id, exc_info=True)

        beat = threading.Thread(target=heartbeat, name=f"lease-{check_id}", daemon=True)
        beat.start()
        try:
            result = run_job(
                check_id,
                settings=cfg,
                owner=owner,
                store=store,
                analysis=_timed(analysis or analyse, cfg["JOB_TIMEOUT_S"]),
            )
            if _sender is not None:
                _sender.wake()  # the job's webhook goes out now, not at the next poll
            return result
        finally:
            stop.set()
            beat.join()
    finally:
        store.close()


_sender: Any = None


@worker_process_init.connect
def _start_webhooks(**_: Any) -> None:
    """Each worker process also delivers due webhooks (the local pool does it in-process).

    Started after the fork, in the pool process itself; several senders are safe
    (a delivery is claimed with a conditional UPDATE).
    """
    global _sender
    from celery import current_app

    from validator.jobs.webhooks import Sender

    cfg = current_app.conf.get("appeal_settings")
    if not cfg or _sender is not None:
        return
    _sender = Sender(Store(cfg["DATABASE_URL"]), cfg)
    _sender.start()


@worker_process_shutdown.connect
def _stop_webhooks(**_: Any) -> None:
    if _sender is not None:
        _sender.stop(5.0)
        _sender.store.close()


@shared_task(
    name="appeal_validator.run_check",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def run_check(self: Task, check_id: str, storage_path: str) -> dict[str, Any]:
    """Run one check; ``storage_path`` is DATA_DIR on the shared mount. Returns JSON."""
    settings = dict(self.app.conf.get("appeal_settings") or settings_mod.from_env())
    settings["DATA_DIR"] = storage_path
    target = self.app.conf.get(TARGET_CONF) or DEFAULT_TARGET
    try:
        return execute(check_id, settings, analysis=_resolve(target))
    except Busy as e:
        raise self.retry(countdown=e.retry_in) from None


def submit_check(check_id: str, settings: Mapping[str, Any]) -> None:
    """Hand a queued check to the workers (the service, when BROKER_URL is set)."""
    # The soft limit raises JobTimeout in Python; a task stuck in C code (a decoder)
    # cannot see it, so its process is killed HARD_LIMIT_GRACE_S later, and the
    # service's sweeper (sweeper.py) runs the job again or gives it up. Only checks get
    # the hard limit: nothing would send a killed batch case again.
    run_check.apply_async(
        args=[check_id, str(settings["DATA_DIR"])],
        queue=settings["QUEUE"],
        time_limit=settings["JOB_TIMEOUT_S"] + HARD_LIMIT_GRACE_S,
    )


@shared_task(
    name="appeal_validator.run_batch_case",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
)
def run_batch_case(self: Task, job: dict[str, Any]) -> dict[str, Any]:
    """One case of ``batch --distributed``: the JSON job of ``batch.work.run_case``.

    Idempotent: a case whose report with the same key is already written is not redone.
    """
    import json
    from pathlib import Path

    from validator.batch.work import REPORT, run_case

    done = Path(job["out_dir"]) / "cases" / job["slug"] / REPORT
    try:
        old = json.loads(done.read_text("utf-8"))
    except (OSError, ValueError):
        old = None
    if old is None or old.get("key") != job["key"] or old.get("status") == "error":
        old = run_case(job)
    return {"case_id": job["case_id"], "status": old["status"], "verdict": old["verdict"]}


def submit_batch(
    jobs: Iterable[dict[str, Any]], step: Callable[[str, str], None] | None = None
) -> list[dict[str, Any]]:
    """``batch --distributed``: send the cases to the workers and wait for all of them.

    The batch folder and ``--out`` must be on the shared mount, at the same path on
    every worker.
    """
    cfg = settings_mod.from_env()
    make_celery(cfg)
    results = [run_batch_case.apply_async(args=[job], queue=cfg["QUEUE"]) for job in jobs]
    out = []
    for r in results:
        res = r.get(timeout=cfg["JOB_TIMEOUT_S"] * 2, disable_sync_subtasks=False)
        r.forget()
        out.append(res)
        if step is not None:
            step(res["case_id"], res["verdict"] or res["status"])
    return out
