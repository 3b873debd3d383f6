"""Celery mode: jobs whose broker message is gone are sent again.

A job of the Celery mode lives in two places: its row in the job store and its
message in the broker. Redis hands a message back when the worker that took it
dies (the visibility timeout, ``tasks.py``), but two things end a message while
its job is still to do:

* Celery's hard time limit kills a task stuck where the soft limit cannot reach
  it (inside a decoder's C code), and acknowledges its message: the row stays
  ``running`` and, once its lease has expired, nobody looks at it again;
* the broker loses its data (Redis restarted without persistence).

The sweeper runs in the service, in one process per DATA_DIR (the holder of
``sweeper.lock``), every ``JOB_LEASE_S`` seconds:

1. running jobs whose lease expired are requeued (or fail with ``job_abandoned``
   after ``JOB_MAX_ATTEMPTS``) and sent again;
2. when the broker holds no message at all for the queue (none waiting, none
   reserved by a worker), jobs queued for longer than a lease have lost theirs,
   and are sent again. Only Redis can be asked this; with another broker, step 2
   is skipped.

A job sent twice is harmless: a worker claims it with a conditional UPDATE and
returns a finished job as it is (``tasks.execute``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from validator.jobs import settings as settings_mod
from validator.jobs.leader import FileLock
from validator.jobs.store import Store, utcnow

log = logging.getLogger(__name__)

# kombu's Redis transport keeps the messages that workers reserved in this hash
UNACKED_KEY = "unacked"


class Sweeper:
    """Sends lost jobs again until ``stop()``; see the module docstring."""

    def __init__(
        self, settings: Mapping[str, Any], *, send: Callable[[str], None] | None = None
    ) -> None:
        self.settings = settings_mod.resolve(settings)
        if send is None:
            from validator.jobs.tasks import submit_check

            def send(check_id: str) -> None:
                submit_check(check_id, self.settings)

        self.send = send
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store = Store(self.settings["DATABASE_URL"])
        self._lock: FileLock | None = None
        self._redis: Any = None
        self._unsent: set[str] = set()  # requeued, but the send failed: retried next round
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Sweeper:
        data_dir = settings_mod.ensure_data_dir(self.settings)
        self._lock = FileLock(data_dir / "sweeper.lock", self.owner)
        self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._lock is not None
        while not self._stop.wait(max(1.0, float(self.settings["JOB_LEASE_S"]))):
            try:
                if self._lock.try_acquire():  # else another process of this DATA_DIR sweeps
                    self.sweep_once()
            except Exception:  # a database or broker hiccup: the next round tries again
                log.warning("sweeper: round failed", exc_info=True)

    def sweep_once(self) -> list[str]:
        """One round; returns the ids sent again.

        The broker is asked first: when it cannot be reached, nothing is requeued (a
        requeued job with no message would be stranded). A job whose send fails stays
        in memory and is sent at the next round.
        """
        lease = float(self.settings["JOB_LEASE_S"])
        empty = self.broker_empty()
        requeued, failed = self.store.requeue_expired(self.settings["JOB_MAX_ATTEMPTS"])
        self._unsent.update(requeued)
        lost: list[str] = []
        if empty:
            before = utcnow() - timedelta(seconds=lease)
            lost = [i for i in self.store.queued_before(before) if i not in self._unsent]
        sent = []
        for check_id in sorted(self._unsent) + lost:
            try:
                self.send(check_id)
            except Exception:
                log.warning("sweeper: sending %s failed; next round", check_id, exc_info=True)
                self._unsent.add(check_id)
                continue
            self._unsent.discard(check_id)
            sent.append(check_id)
        if sent or failed:
            log.warning(
                "sweeper: sent %d job(s) again (%d lost); %d abandoned",
                len(sent),
                len(lost),
                len(failed),
            )
        return sent

    def broker_empty(self) -> bool | None:
        """True when the broker holds no message for the queue; None when it cannot say."""
        url = str(self.settings["BROKER_URL"] or "")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            return None
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        queue = self.settings["QUEUE"]
        return self._redis.llen(queue) == 0 and self._redis.hlen(UNACKED_KEY) == 0

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # mid-round on a slow database: let it end alone
                log.warning("sweeper: still in a round after %g s; not waiting", timeout)
                return
        if self._lock is not None:
            self._lock.release()
        if self._redis is not None:
            self._redis.close()
        self.store.close()
