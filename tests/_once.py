"""``computed_once``: a value computed by one process of a test run and read by the others.

Why: with ``--dist loadfile`` two modules that share a session cache (``conftest.py``'s
``checked_report``, ``face_metrics``) often run in two pytest-xdist processes, and each
decoded the clips they have in common (28 clips of ``test_fixture_truth`` and
``test_fixture_matrix``, about 10 s each on this 2-core machine).
"""

from __future__ import annotations

import fcntl
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from validator.files import write_bytes


def computed_once(folder: Path, key: object, compute: Callable[[], Any]) -> Any:
    """``compute()``'s value for ``key``, kept pickled in ``folder``: the first process to
    ask computes it under a lock, the others wait for it and read it. A ``compute`` that
    raises leaves nothing: the next process to ask computes again."""
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    done = folder / f"{name}.pickle"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return pickle.loads(done.read_bytes())
        value = compute()
        write_bytes(done, pickle.dumps(value))  # atomic: a reader never sees half a file
        return value
