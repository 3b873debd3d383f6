"""The analysis process: ``python -m validator.jobs.child`` reads its job on stdin.

A fresh interpreter per analysis (like multiprocessing's *spawn*, but without
re-importing the parent's ``__main__``, which breaks under some launchers): the
pool can kill it on a time limit, and a crash in a decoder ends only this process.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _watch_parent(parent_pid: int) -> None:
    # An orphaned analysis must not go on with a job its (dead) pool no longer watches.
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(0.5)


def main() -> int:
    job = json.loads(sys.stdin.read())
    for entry in reversed(job.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    threading.Thread(target=_watch_parent, args=(job["parent_pid"],), daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # Analyses are batch work: the web requests of the same machine go first.
    os.nice(job.get("nice", 10))
    from validator.jobs.runner import run_job

    run_job(
        job["check_id"],
        settings=job["settings"],
        owner=job["owner"],
        analysis=_resolve(job["target"]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
