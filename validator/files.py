"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every report, summary and thumbnail is written here: into a temporary file of a
unique name in the same folder (two writers of one path never share it), flushed
and fsynced, made readable by others (``mkstemp`` makes it 0600) and renamed over
the target with ``os.replace``. On any error the temporary file is removed.
(The service's uploads are streamed to disk the same way in ``jobs/storage.py``.)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes(path: str | Path, data: bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically (its folder is created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | Path, text: str) -> Path:
    """``text`` as UTF-8, atomically."""
    return write_bytes(path, text.encode("utf-8"))


def dumps(data: Any) -> str:
    """The JSON text of every file this project writes: UTF-8 as is, indented by 2."""
    return json.dumps(data, ensure_ascii=False, indent=2)


def write_json(path: str | Path, data: Any) -> Path:
    """``data`` as JSON (``dumps``), atomically."""
    return write_text(path, dumps(data))
