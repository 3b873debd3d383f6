"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every report, summary, thumbnail and video preview is written here: into a temporary file of a
unique name in the same folder (two writers of one path never share it), flushed
and fsynced, made readable by others (``mkstemp`` makes it 0600) and renamed over
the target with ``os.replace``. On any error the temporary file is removed.
(The service's uploads are streamed to disk the same way in ``jobs/storage.py``.)
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path, *, mode: int = 0o644, parents: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that needs a file name (an encoder
    that reopens its output, as MP4's ``+faststart`` does); on a clean exit it is
    fsynced, made readable and renamed over ``path``, on any error removed.

    ``parents=False`` leaves a missing folder missing (``FileNotFoundError``): a file
    for a deleted check must not bring its folder back.
    """
    path = Path(path)
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically (its folder is created); returns ``path``."""
    with atomic_path(path, mode=mode) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """``text`` as UTF-8, atomically."""
    return write_bytes(path, text.encode("utf-8"))


def dumps(data: Any) -> str:
    """The JSON text of every file this project writes: UTF-8 as is, indented by 2."""
    return json.dumps(data, ensure_ascii=False, indent=2)


def write_json(path: str | Path, data: Any) -> Path:
    """``data`` as JSON (``dumps``), atomically."""
    return write_text(path, dumps(data))
