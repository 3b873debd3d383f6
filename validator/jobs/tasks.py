"""The job back-end: Celery, in both modes, the way Flask's ``examples/celery`` does it.

The web process only enqueues (``submit_check``); ``appeal-validator worker`` runs the
jobs. ``celery_init_app(app)`` configures Celery from the app's settings, and
``@shared_task`` tasks take ids and return JSON (the serializer is JSON only). The task
only handles delivery; ``execute`` holds the logic and ``runner.run_job`` the analysis.

Two modes, the same task code:

* **embedded** (the default, no server): the broker is kombu's SQLAlchemy transport on
  ``<DATA_DIR>/broker.db`` and results go to ``<DATA_DIR>/results.db`` (Celery's
  database backend); ``serve`` starts one worker process beside the web process;
* **scaled out**: ``BROKER_URL`` (Redis) and ``DATABASE_URL`` (PostgreSQL), workers on
  every machine (docs/scale-out.md).

Completion is exactly once; delivery is at least once:

* ``acks_late`` + ``reject_on_worker_lost``: a message is acknowledged only after its
  task returned; a pool process that dies mid-job (a decoder segfault, the OOM killer)
  has its message requeued, and Redis hands back the message of a whole worker that
  died after the visibility timeout (longer than the hard time limit).
* A message is a turn of work: it claims the fairest queued job (``Store.claim_next``,
  round-robin by tenant, ``TENANT_MAX_RUNNING`` at most per tenant), not necessarily
  the check it was sent for; one message is sent per job, and each claims one job while
  jobs are queued, so every job gets its turn. Each job row names the delivery that
  runs it (``lease_owner``: the task id, the host, the pid and start time of the
  process). The claim is a compare-and-set; a row ``running`` under *this* message's
  task id means its last consumer is gone (the broker redelivered it), so it is taken
  over, again with a compare-and-set. A spare or duplicate message finds nothing to
  start. Finishing is conditional on the owner: a job is never finished twice.
* Time limits are Celery's: the soft limit (``JOB_TIMEOUT_S``) ends the analysis with
  ``job_timeout``; the hard limit kills a task stuck in C code, and the worker's main
  process (``CheckRequest.on_timeout``) fails its row. A pool process that died
  ``JOB_MAX_ATTEMPTS`` times fails its job with ``job_crashed``.
* What no message will bring back is found by every worker, at start and every
  ``JOB_LEASE_S`` seconds (``Recoverer``): a running row whose process on this host
  is gone (a worker killed with its web process), or that outlived the hard limit, is
  requeued (``job_abandoned`` after ``JOB_MAX_ATTEMPTS``) and sent again; a job queued
  for longer than ``JOB_LEASE_S`` while the broker reports no message waiting in the
  queue (``queue_declare(passive=True)``: public, on every transport) lost its message
  and is sent again. A duplicate is harmless (above).
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import Celery, Task, bootsteps, shared_task
from celery.exceptions import SoftTimeLimitExceeded, WorkerLostError
from celery.signals import worker_process_init, worker_process_shutdown
from celery.worker.request import Request

from validator.jobs import settings as settings_mod
from validator.jobs.runner import JobTimeout, crashed, status_of
from validator.jobs.settings import Settings
from validator.jobs.store import Store, abandoned_error
from validator.jobs.tables import Check
from validator.media.source import pool_analysis_threads, set_analysis_threads

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

DEFAULT_TARGET = "validator.jobs.runner:analyze"
CONCURRENCY_CONF = "appeal_concurrency"  # the worker's analyses at once (analysis threads)
TARGET_CONF = "appeal_analysis_target"  # the worker's analysis function (tests swap it)
HARD_LIMIT_GRACE_S = 30  # after the soft limit, a check's task is killed this much later
PARENT_ENV = "APPEAL_VALIDATOR_PARENT_PID"  # set by serve: the worker ends with its server
HOST = socket.gethostname()[:16]


# -- configuration ----------------------------------------------------------------------


def broker_url(cfg: Settings) -> str:
    """BROKER_URL, or the embedded SQLite broker in DATA_DIR."""
    return cfg.broker_url or f"sqla+sqlite:///{cfg.data_dir / 'broker.db'}"


def run_deadline_s(cfg: Settings) -> float:
    """How long a claimed job may stay ``running``: past the hard limit it cannot be."""
    return float(cfg.job_timeout_s + HARD_LIMIT_GRACE_S + cfg.job_lease_s)


def celery_config(cfg: Settings) -> dict[str, Any]:
    """Celery's configuration from the service's settings (declared in settings.py)."""
    conf: dict[str, Any] = {
        "broker_url": broker_url(cfg),
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": cfg.queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # one job per process: the next waits in the broker
        "task_soft_time_limit": cfg.job_timeout_s,
        "result_expires": 7 * 86400,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "appeal_settings": cfg,  # the typed Settings: the worker's tasks read them
    }
    if cfg.broker_url:
        # Longer than a check's task may live (the hard limit): Redis must not hand a
        # running job's message to a second worker.
        visibility = int(run_deadline_s(cfg)) + 1
        conf["broker_transport_options"] = {
            "visibility_timeout": visibility,
            # kombu looks for messages of dead workers every interval x throttle seconds
            # (100 s by default); one cheap ZRANGE a look, so look every JOB_LEASE_S.
            "unacked_restore_interval": min(10.0, max(1.0, cfg.job_lease_s)),
            "unacked_restore_throttle": 1,
        }
        conf["result_backend"] = cfg.broker_url
    else:
        # SQLite: writers wait for the lock instead of failing (kombu passes these
        # options to SQLAlchemy's create_engine).
        conf["broker_transport_options"] = {"connect_args": {"timeout": 30}}
        conf["result_backend"] = f"db+sqlite:///{cfg.data_dir / 'results.db'}"
        conf["database_engine_options"] = {"connect_args": {"timeout": 30}}
    return conf


def make_celery(settings: Settings, *, main: str = "appeal_validator") -> Celery:
    """A Flask-free Celery app (the worker, ``batch --distributed``)."""
    app = Celery(main)
    app.config_from_object(celery_config(settings))
    app.steps["worker"].add(Recovery)
    app.set_default()
    return app


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    """Flask's ``examples/celery`` factory: tasks run inside the app context."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


# -- who runs a job: the delivery, in one process -----------------------------------------


def _start_ticks(pid: int) -> str:
    """The process's start time (clock ticks since boot): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def _task_key(task_id: str) -> str:
    return task_id.replace("-", "")[:32]  # a uuid in 32 characters: the column holds 80


def owner_of(task_id: str, pid: int | None = None) -> str:
    """``<task id>@<host>:<pid>:<start>``: the delivery and the process that runs it."""
    pid = os.getpid() if pid is None else pid
    return f"{_task_key(task_id)}@{HOST}:{pid}:{_start_ticks(pid)}"


def _delivery(owner: str | None) -> str:
    return (owner or "").partition("@")[0]


def process_gone(owner: str | None) -> bool:
    """True when ``owner`` ran on this host in a process that no longer exists."""
    _, _, where = (owner or "").partition("@")
    host, _, rest = where.partition(":")
    pid, _, start = rest.partition(":")
    if host != HOST or not pid.isdigit():
        return False  # another host's (its own workers look after it) or not a worker's
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return _start_ticks(int(pid)) != start


# -- the task's logic (testable without a broker) ---------------------------------------


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
    settings: Settings,
    *,
    task_id: str,
    analysis: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run one queued job for the delivery ``task_id``, to completion at most once.

    A message is a turn of work: ``check_id`` was queued with it, but the job it runs is
    the fairest queued one (``Store.claim_next``: round-robin by tenant), so one tenant's
    many uploads never hold another's check behind them; every message claims one job
    while jobs are queued, so each job gets its turn. See the module docstring: the job
    this same message ran before (its process gone) is taken over; a message that finds
    nothing to start returns ``check_id``'s status (``done``, or ``running`` under
    another message).
    """
    from validator.jobs.runner import analyze, run_job

    store = Store(settings.database_url)
    try:
        owner = owner_of(task_id)
        deadline = run_deadline_s(settings)
        mine = store.running_of(_delivery(owner))
        if mine is not None:  # this message again: the process that had it is gone
            job = mine.id
            if mine.attempts >= settings.job_max_attempts:
                store.fail(job, mine.lease_owner, abandoned_error(mine.attempts))
                return status_of(store, job)
            if not store.take_over(job, mine.lease_owner or "", owner, deadline):
                return status_of(store, job)
        else:
            claimed = store.claim_next(owner, deadline, tenant_limit=settings.tenant_max_running)
            if claimed is None:
                return status_of(store, check_id)
            job = claimed
        result = run_job(
            job,
            settings=settings,
            owner=owner,
            store=store,
            analysis=_timed(analysis or analyze, settings.job_timeout_s),
        )
        if _sender is not None:
            _sender.wake()  # the job's webhook goes out now, not at the next poll
        if settings.tenant_max_running and store.has_queued():
            # A message that met only tenants at their limit started nothing: a job may be
            # queued without one. One more turn now (a spare one finds nothing to do).
            submit_check(job, settings)
        return result
    finally:
        store.close()


def _running_row(store: Store, task_id: str) -> Check | None:
    """The row of the job this delivery runs, else None."""
    return store.running_of(_task_key(task_id))


class CheckRequest(Request):
    """Runs in the worker's main process: ends the rows of tasks whose process cannot."""

    def _settings(self) -> Settings:
        return self.task.app.conf.get("appeal_settings") or Settings()

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft:
            return  # the task itself raises JobTimeout and fails its row
        cfg = self._settings()
        store = Store(cfg.database_url)
        try:
            row = _running_row(store, self.id)
            if row is not None:
                store.fail(row.id, row.lease_owner, JobTimeout(cfg.job_timeout_s).to_dict())
                log.warning("check %s: killed at the hard time limit", row.id)
        finally:
            store.close()

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False):
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(exc, WorkerLostError):
            self._give_up_if_it_keeps_dying(exc)
        # With reject_on_worker_lost, this requeues the message: it takes the job over.
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def _give_up_if_it_keeps_dying(self, exc: BaseException) -> None:
        # Before the message is requeued: its redelivery must find the job failed, and
        # this can never fail a run that took the job over.
        cfg = self._settings()
        store = Store(cfg.database_url)
        try:
            row = _running_row(store, self.id)
            if (
                row is not None
                and row.attempts >= cfg.job_max_attempts
                and process_gone(row.lease_owner)
            ):
                message = (
                    f"the analysis process ended unexpectedly ({exc}) {row.attempts} times. "
                    "The file may trip a decoder bug: try again, and if it keeps failing "
                    "report the file to the maintainers (do not re-encode the evidence: the "
                    "platform judges the original)."
                )
                store.fail(row.id, row.lease_owner, crashed(message, None))
                log.warning("check %s: analysis process crashed %d times", row.id, row.attempts)
        finally:
            store.close()


# -- recovery: what no message will bring back --------------------------------------------


def queue_size(app: Celery, queue: str) -> int:
    """Messages waiting in ``queue`` (kombu's public passive declare; 0 when it is gone)."""
    from kombu.exceptions import ChannelError

    with app.connection_for_read() as conn:
        try:
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
        except ChannelError:
            return 0


class Recoverer:
    """Sends again the jobs that no message will bring back (module docstring)."""

    def __init__(
        self,
        store: Store,
        cfg: Settings,
        send: Callable[[str], None],
        queue_empty: Callable[[], bool],
    ) -> None:
        self.store, self.cfg, self.send, self.queue_empty = store, cfg, send, queue_empty
        self.unsent: set[str] = set()  # requeued, but the send failed: tried next round
        self.sent: dict[str, float] = {}  # sent lately: not again within JOB_LEASE_S

    def round(self) -> list[str]:
        """One round; returns the ids sent again.

        The broker is asked first: when it cannot be reached, nothing is requeued.
        """
        cfg, store = self.cfg, self.store
        every_s = float(cfg.job_lease_s)
        empty = self.queue_empty()
        dead = [row for row in store.running() if _dead(row)]
        requeued, failed = store.requeue(dead, cfg.job_max_attempts)
        self.unsent.update(requeued)
        now = time.monotonic()
        self.sent = {k: t for k, t in self.sent.items() if now - t < every_s}
        lost: list[str] = []
        if empty:  # every queued job's message is gone: the old ones lost theirs
            before = datetime.fromtimestamp(time.time() - every_s, UTC)
            lost = [i for i in store.queued_before(before) if i not in self.unsent | set(self.sent)]
        sent = []
        for check_id in [*sorted(self.unsent), *lost]:
            try:
                self.send(check_id)
            except Exception:
                log.warning("recovery: sending %s failed; next round", check_id, exc_info=True)
                self.unsent.add(check_id)
                continue
            self.unsent.discard(check_id)
            self.sent[check_id] = now
            sent.append(check_id)
        if sent or failed:
            log.warning(
                "recovery: sent %d job(s) again (%d lost messages); %d abandoned",
                len(sent),
                len(lost),
                len(failed),
            )
        return sent


ORPHAN_GRACE_S = 3600.0  # an upload's folder is seconds older than its row; far more
ORPHAN_SWEEP_EVERY_S = 3600.0  # a walk of every check's folder: hourly is enough


def sweep_orphans(store: Store, cfg: Settings) -> int:
    """Remove the storage folders no check owns (``LocalStorage.orphans``) and the
    resumable uploads past ``upload_expiry_s`` (``PartialUploads.sweep``); their count.

    Deletion is final without it (the runner removes what it wrote after a deletion);
    this finds what a process killed at that moment, or during a deletion, left, and the
    staging folders of jobs killed mid-way (older than a job may run).
    """
    from validator.jobs.storage import local_storage

    storage = local_storage(cfg.data_dir)
    found = storage.orphans(store.existing, ORPHAN_GRACE_S, run_deadline_s(cfg))
    for folder in found:
        shutil.rmtree(folder, ignore_errors=True)
    if found:
        log.warning("storage: removed %d folder(s) of deleted checks", len(found))
    from validator.jobs.partial import partial_uploads

    # Resumable uploads nobody finished (a closed tab, a phone that gave up).
    expired = partial_uploads(cfg.data_dir, cfg.upload_expiry_s, cfg.upload_max_age_s).sweep()
    if expired:
        log.info("storage: removed %d abandoned upload(s)", expired)
    return len(found) + expired


def _dead(row: Check) -> bool:
    past = row.lease_until is not None and row.lease_until < datetime.now(UTC)
    return past or process_gone(row.lease_owner)


class Recovery(bootsteps.StartStopStep):
    """A worker step: a ``Recoverer`` round at start and every JOB_LEASE_S, the storage
    sweep (``sweep_orphans``) at start and every ORPHAN_SWEEP_EVERY_S; with serve's
    ``APPEAL_VALIDATOR_PARENT_PID``, a warm shutdown when the server is gone."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: list[Any] = []
        self.recoverer: Recoverer | None = None
        self.orphaned = False

    def start(self, worker: Any) -> None:
        cfg: Settings | None = worker.app.conf.get("appeal_settings")
        if not cfg:
            return
        self.recoverer = Recoverer(
            Store(cfg.database_url),
            cfg,
            lambda check_id: submit_check(check_id, cfg),
            lambda: queue_size(worker.app, cfg.queue) == 0,
        )
        self.tick()
        self.tref.append(worker.timer.call_repeatedly(float(cfg.job_lease_s), self.tick))
        self.sweep()
        self.tref.append(worker.timer.call_repeatedly(ORPHAN_SWEEP_EVERY_S, self.sweep))
        parent = os.environ.get(PARENT_ENV)
        if parent and parent.isdigit():
            self.tref.append(worker.timer.call_repeatedly(0.5, self.watch, (int(parent),)))

    def tick(self) -> None:
        assert self.recoverer is not None
        try:
            self.recoverer.round()
        except Exception:  # a database or broker hiccup: the next round tries again
            log.warning("recovery: round failed", exc_info=True)

    def sweep(self) -> None:
        assert self.recoverer is not None
        try:
            sweep_orphans(self.recoverer.store, self.recoverer.cfg)
        except Exception:  # a database hiccup, a folder that cannot be read: next time
            log.warning("storage: sweep failed", exc_info=True)

    def watch(self, parent: int) -> None:
        if os.getppid() != parent and not self.orphaned:
            # serve died (even by kill -9): finish the running job, then stop
            self.orphaned = True
            os.kill(os.getpid(), signal.SIGTERM)

    def stop(self, worker: Any) -> None:
        for t in self.tref:
            t.cancel()
        self.tref.clear()
        if self.recoverer is not None:
            self.recoverer.store.close()
            self.recoverer = None


# -- the worker process that serve starts -------------------------------------------------


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a worker process exactly these settings."""
    env = dict(os.environ)
    for s in settings_mod.SETTINGS:
        value = None if s.name == "SECRET_KEY" else getattr(settings, s.attr)  # not the worker's
        if value is None:
            env.pop(s.env, None)
        else:
            env[s.env] = str(value).lower() if isinstance(value, bool) else str(value)
    env.pop("DATABASE_URL", None)  # APPEAL_VALIDATOR_DATABASE_URL, set above, is the one
    return env


def start_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    analysis_target: str | None = None,
    stdout: Any = None,
) -> subprocess.Popen[bytes]:
    """``appeal-validator worker`` as a child of this process, which it does not outlive.

    The child stays in this process group: a kill of the group (a crash of the whole
    service) takes it too; when only this process dies, the worker finishes the job in
    hand and stops (``Recovery.watch``).
    """
    env = worker_env(settings)
    env[PARENT_ENV] = str(os.getpid())
    # What is importable here (the analysis target of a test) is importable there.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    cmd = [sys.executable, "-m", "validator", "worker", "--loglevel", "warning",
           "--concurrency", str(concurrency or settings.workers),
           "--hostname", f"embedded-{os.getpid()}@%h"]  # fmt: skip
    if analysis_target:
        cmd += ["--analysis-target", analysis_target]
    err = subprocess.STDOUT if stdout is not None else None
    return subprocess.Popen(cmd, env=env, stdout=stdout, stderr=err)


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a worker from ``start_worker``: warm (SIGTERM), then cold after ``timeout``.

    A job still running at the cold stop stays ``running`` under a dead process; the
    next worker's recovery requeues it.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGQUIT)  # Celery's cold shutdown: ends the pool too
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


# -- webhooks from the worker -------------------------------------------------------------

_sender: Any = None


def limit_memory(limit_mb: int) -> None:
    """Bound this process's address space (RLIMIT_AS) to ``limit_mb``; 0 leaves it.

    Why RLIMIT_AS in each pool process rather than Celery's
    ``worker_max_memory_per_child``: Celery looks at a child's memory only after a task
    returned, to recycle it, so one analysis could still take all the machine's memory
    (and the OOM killer any process); with the limit, the allocation that goes past it
    fails (``MemoryError``, FFmpeg's ENOMEM is one too), the runner fails that job with
    ``job_out_of_memory`` and the process goes on with the next. It is address space,
    not resident memory (see the setting's help for the measured peaks).
    """
    if limit_mb <= 0:
        return
    import resource

    want = limit_mb << 20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def analysis_threads(cfg: Settings, concurrency: int | None) -> int:
    """A pool process's analysis threads (FFmpeg's and OpenCV's): the setting, or when it
    is 0 (automatic) one if the worker's analyses at once fill the cores, else their own
    choice (0)."""
    if cfg.analysis_threads:
        return cfg.analysis_threads
    return pool_analysis_threads(concurrency or os.cpu_count() or 1)


@worker_process_init.connect
def _init_process(**_: Any) -> None:
    """A worker pool process (niced beside serve) bounds its memory and also delivers
    due webhooks.

    Started after the fork, in the pool process itself; several senders are safe
    (a delivery is claimed with a conditional UPDATE).
    """
    global _sender
    from celery import current_app

    from validator.jobs.webhooks import Sender

    cfg: Settings | None = current_app.conf.get("appeal_settings")
    if not cfg or _sender is not None:
        return
    limit_memory(cfg.worker_max_memory_mb)
    set_analysis_threads(analysis_threads(cfg, current_app.conf.get(CONCURRENCY_CONF)))
    if os.environ.get(PARENT_ENV):  # serve's worker: its web requests go first
        os.nice(10)
    _sender = Sender(Store(cfg.database_url), cfg)
    _sender.start()


@worker_process_shutdown.connect
def _stop_webhooks(**_: Any) -> None:
    if _sender is not None:
        _sender.stop(5.0)
        _sender.store.close()


# -- the tasks ----------------------------------------------------------------------------


@shared_task(
    name="appeal_validator.run_check",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    Request=CheckRequest,
)
def run_check(self: Task, check_id: str, storage_path: str) -> dict[str, Any]:
    """Run one check; ``storage_path`` is DATA_DIR on the shared mount. Returns JSON."""
    # DATA_DIR is the submitter's (the same shared mount); the rest are this worker's.
    settings = replace(self.app.conf.get("appeal_settings") or settings_mod.from_env(),
                       data_dir=Path(storage_path))  # fmt: skip
    target = self.app.conf.get(TARGET_CONF) or DEFAULT_TARGET
    return execute(check_id, settings, task_id=self.request.id, analysis=_resolve(target))


def submit_check(check_id: str, settings: Settings) -> None:
    """Hand a queued check to the workers (the web process only enqueues)."""
    # The soft limit raises JobTimeout in Python; a task stuck in C code (a decoder)
    # cannot see it, so its process is killed HARD_LIMIT_GRACE_S later and
    # CheckRequest.on_timeout fails the job. Only checks get the hard limit: nothing
    # would fail a killed batch case's row.
    run_check.apply_async(
        args=[check_id, str(settings.data_dir)],
        queue=settings.queue,
        time_limit=settings.job_timeout_s + HARD_LIMIT_GRACE_S,
    )


@shared_task(
    name="appeal_validator.make_preview",
    bind=True,
    acks_late=True,
    # A decoder that kills its process would kill every redelivery too: the row, past
    # its deadline, reads as failed instead (jobs/previews.py).
    reject_on_worker_lost=False,
)
def make_preview_task(self: Task, check_id: str, index: int, storage_path: str) -> dict[str, Any]:
    """The H.264 preview of a check's ``index``-th video (``jobs/previews.py``)."""
    from validator.jobs import previews

    settings = replace(self.app.conf.get("appeal_settings") or settings_mod.from_env(),
                       data_dir=Path(storage_path))  # fmt: skip
    return previews.make(check_id, index, self.request.id, settings)


def submit_preview(check_id: str, index: int, task_id: str, settings: Settings) -> None:
    """Send the preview task ``task_id`` (its row's owner: ``previews.request``)."""
    from validator.jobs import previews

    make_preview_task.apply_async(
        args=[check_id, index, str(settings.data_dir)],
        task_id=task_id,
        queue=settings.queue,
        soft_time_limit=previews.TIMEOUT_S,
        time_limit=previews.TIMEOUT_S + previews.HARD_GRACE_S,
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

    from validator.batch.work import REPORT, run_case

    done = Path(job["out_dir"]) / "cases" / job["slug"] / REPORT
    try:
        old = json.loads(done.read_text("utf-8"))
    except (OSError, ValueError):
        old = None
    if old is None or old.get("key") != job["key"] or old.get("status") == "error":
        old = run_case(job)
    # A case in error (a bad case.json, a time limit, a bug) has no verdict: listed as such.
    return {"case_id": job["case_id"], "status": old["status"], "verdict": old.get("verdict")}


def submit_batch(
    jobs: Iterable[dict[str, Any]], step: Callable[[str, str], None] | None = None
) -> list[dict[str, Any]]:
    """``batch --distributed``: send the cases to the workers and wait for all of them.

    The batch folder and ``--out`` must be on the shared mount, at the same path on
    every worker.
    """
    cfg = settings_mod.from_env()
    make_celery(cfg)
    results = [run_batch_case.apply_async(args=[job], queue=cfg.queue) for job in jobs]
    out = []
    for r in results:
        res = r.get(timeout=cfg.job_timeout_s * 2, disable_sync_subtasks=False)
        r.forget()
        out.append(res)
        if step is not None:
            step(res["case_id"], res["verdict"] or res["status"])
    return out
