"""The in-process pool: runs queued checks, one child process per analysis.

One pool per DATA_DIR: the process that holds ``<DATA_DIR>/pool.lock`` (an flock,
released by the kernel when its holder dies) runs it; the others (gunicorn
workers) stand by and take over when the holder exits. The dispatcher thread
claims queued jobs from the store (a conditional UPDATE, so even two pools on one
database never run the same job), up to WORKERS at once.

Each analysis runs ``runner.run_job`` in a child process (``jobs/child.py``, a
fresh interpreter: no forked locks or threads), so a hung or crashing decoder is killed
and the job ends ``failed`` with ``job_timeout`` or ``job_crashed``, never stuck
in ``running``. The parent renews the job's lease while the child lives; a job
left ``running`` by a dead process is requeued when its lease expires (after
``JOB_MAX_ATTEMPTS`` it fails with ``job_abandoned``). On a clean stop the
running jobs are put back in the queue for the next start.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from validator.jobs import settings as settings_mod
from validator.jobs.leader import FileLock
from validator.jobs.runner import JobTimeout, crashed
from validator.jobs.store import Store
from validator.jobs.webhooks import Sender

log = logging.getLogger(__name__)

DEFAULT_TARGET = "validator.jobs.runner:analyse"


class Pool:
    """Runs the store's queued checks until ``stop()``; see the module docstring."""

    def __init__(self, settings: Mapping[str, Any], *, target: str = DEFAULT_TARGET) -> None:
        self.settings = settings_mod.resolve(settings)
        self.target = target
        self.workers = self.settings["WORKERS"]
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store: Store | None = None
        self.sender: Sender | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock: FileLock | None = None
        self._jobs: dict[str, threading.Thread] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._mutex = threading.Lock()
        self._main: threading.Thread | None = None

    @property
    def leader(self) -> bool:
        """True while this process holds the pool lock (and so runs the jobs)."""
        return self._lock is not None and self._lock.held

    def start(self) -> Pool:
        """Start (or stand by for the lock); returns self."""
        data_dir = settings_mod.ensure_data_dir(self.settings)
        self._lock = FileLock(data_dir / "pool.lock", self.owner)
        self._main = threading.Thread(target=self._run, name="pool", daemon=True)
        self._main.start()
        return self

    def notify(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        poll = self.settings["POLL_S"]
        assert self._lock is not None
        while not self._stop.is_set() and not self._lock.try_acquire():
            self._stop.wait(max(poll * 4, 1.0))  # stand by: another process runs the pool
        if self._stop.is_set():
            return
        self.store = Store(self.settings["DATABASE_URL"])
        self.sender = Sender(self.store, self.settings)
        self.sender.start()
        log.info("pool %s: %d worker(s) on %s", self.owner, self.workers, self.store.url)
        while not self._stop.is_set():
            try:
                self._dispatch()
            except Exception:  # a database hiccup must not end the pool
                log.warning("pool: dispatch failed", exc_info=True)
            self._wake.wait(poll)
            self._wake.clear()

    def _dispatch(self) -> None:
        assert self.store is not None
        self.store.requeue_expired(self.settings["JOB_MAX_ATTEMPTS"])
        if self.sender is not None:
            self.sender.wake()  # requeue_expired may have failed jobs with webhooks
        while not self._stop.is_set():
            with self._mutex:
                self._jobs = {k: t for k, t in self._jobs.items() if t.is_alive()}
                if len(self._jobs) >= self.workers:
                    return
            check_id = self.store.claim_next(self.owner, self.settings["JOB_LEASE_S"])
            if check_id is None:
                return
            t = threading.Thread(target=self._supervise, args=(check_id,), name=f"job-{check_id}")
            with self._mutex:
                self._jobs[check_id] = t
            t.start()

    def _supervise(self, check_id: str) -> None:
        """Run one claimed job in a child process; enforce the time limit and the lease."""
        assert self.store is not None
        store, cfg = self.store, self.settings
        job = {
            "check_id": check_id,
            "settings": dict(cfg),
            "owner": self.owner,
            "target": self.target,
            "parent_pid": os.getpid(),
            "sys_path": sys.path,  # a target importable here is importable there
        }
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "validator.jobs.child"], stdin=subprocess.PIPE
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job).encode("utf-8"))
            proc.stdin.close()
        except OSError as e:  # no process could be started (limits, memory)
            if proc is not None:
                self._kill(proc)
            store.fail(
                check_id,
                self.owner,
                crashed(
                    f"the analysis process could not start ({e.strerror}); try again later.", None
                ),
            )
            log.warning("check %s: cannot start the analysis process: %s", check_id, e)
            return
        assert proc is not None
        with self._mutex:
            self._procs[check_id] = proc
        started = time.monotonic()
        beat = min(cfg["JOB_LEASE_S"] / 3, 5.0)
        try:
            while True:
                left = cfg["JOB_TIMEOUT_S"] - (time.monotonic() - started)
                try:
                    proc.wait(max(0.0, min(beat, left)))
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self._stop.is_set():
                    self._kill(proc)
                    store.release(check_id, self.owner)  # the next start runs it again
                    return
                if time.monotonic() - started >= cfg["JOB_TIMEOUT_S"]:
                    self._kill(proc)
                    store.fail(
                        check_id,
                        self.owner,
                        JobTimeout(cfg["JOB_TIMEOUT_S"]).to_dict(),
                    )
                    log.warning("check %s: stopped after %g s", check_id, cfg["JOB_TIMEOUT_S"])
                    return
                if not store.renew(check_id, self.owner, cfg["JOB_LEASE_S"]):
                    self._kill(proc)  # deleted, or no longer ours: stop wasting the CPU
                    return
            code = proc.returncode
            row = store.get(check_id)
            if row is not None and row.status == "running" and row.lease_owner == self.owner:
                how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                store.fail(
                    check_id,
                    self.owner,
                    crashed(
                        f"the analysis process ended unexpectedly ({how}). "
                        "The file may trip a decoder bug; try again or re-encode it.",
                        code,
                    ),
                )
                log.warning("check %s: analysis process crashed (%s)", check_id, how)
        finally:
            with self._mutex:
                self._procs.pop(check_id, None)
            if self.sender is not None:
                self.sender.wake()
            self._wake.set()

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait(10)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop: running analyses are killed and put back in the queue; threads joined."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._main is not None:
            self._main.join(max(0.1, deadline - time.monotonic()))
        with self._mutex:
            jobs = list(self._jobs.values())
        for t in jobs:
            t.join(max(0.1, deadline - time.monotonic()))
        if self.sender is not None:
            self.sender.stop(max(0.1, deadline - time.monotonic()))
        if self._lock is not None:
            self._lock.release()
        if self.store is not None:
            self.store.close()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Testing aid: True once nothing is queued or running (within ``timeout``)."""
        deadline = time.monotonic() + timeout
        probe = Store(self.settings["DATABASE_URL"])
        try:
            while time.monotonic() < deadline:
                counts = probe.counts()
                if counts["queued"] == 0 and counts["running"] == 0:
                    return True
                time.sleep(0.05)
            return False
        finally:
            probe.close()
