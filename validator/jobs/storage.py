"""Where uploaded videos and the files derived from them live.

A small interface so that the next step (shared storage for several hosts) only
adds an implementation. A check's videos are ``video`` and, for a case of several,
``video-1``, ``video-2``, ... (``video_paths`` lists them in order); a finished resumable
upload is hard-linked into place (``put_file``), a request's file part copied
(``put_stream``). Paths are built from server-made ids (tenant id, check
uuid), never from a client's filename. Writes are atomic: a temporary file in the
same folder, fsync, ``os.replace``, fsync of the folder; a reader sees the whole
file or none.

Deletion is final. A job writes its derived files into a staging folder inside the
check's folder (``begin_derived``: made only while that folder exists) and renames it
into place (``publish_derived``) before it finishes the row; the deletion removes the
row first, then the folder. So whatever a job wrote is either removed by the deletion
or, when it landed after it, by the job itself, which finds the row gone
(``runner``); what a killed process leaves behind, ``orphans`` finds for the sweeper.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 20
_STAGING = ".derived-"  # a job's derived files until it publishes them (never an id)
_DELETED = ".deleted-"  # a check folder being deleted
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_VIDEO_NAME = re.compile(r"^video(?:-(?P<n>[1-9][0-9]{0,2}))?$")  # video, video-1, ...
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class StoredFile:
    path: Path
    sha256: str
    size: int


class Storage(Protocol):
    """What the service needs from file storage."""

    def put_stream(
        self, tenant: str, check_id: str, fileobj: BinaryIO, name: str = "video"
    ) -> StoredFile:
        """Copy ``fileobj`` to the check's video file ``name`` (``video``, the case's
        further videos ``video-1``, ...), atomically; its path, sha256, size."""
        ...

    def put_file(self, tenant: str, check_id: str, source: Path, name: str = "video") -> StoredFile:
        """Link ``source`` (a finished resumable upload, on the same disk) as the check's
        video file ``name``, atomically; its path, sha256, size. ``source`` stays: the
        caller removes it once the check is committed."""
        ...

    def video_paths(self, tenant: str, check_id: str) -> list[Path]:
        """The check's videos in the case's order: ``video``, then ``video-1``, ..."""
        ...

    def video_path(self, tenant: str, check_id: str) -> Path:
        """A local path the analysis can open."""
        ...

    def open(self, tenant: str, check_id: str) -> BinaryIO: ...

    def derived_dir(self, tenant: str, check_id: str) -> Path:
        """Folder for files made from the video (thumbnails, evidence frames)."""
        ...

    def derived_file(self, tenant: str, check_id: str, name: str) -> Path | None:
        """A derived file by its bare name, or None (no such file, or an unsafe name)."""
        ...

    def copy_derived(self, tenant: str, from_id: str, to_id: str) -> None:
        """Copy one check's derived files to another's, staged and published like a job's."""
        ...

    def begin_derived(self, tenant: str, check_id: str) -> Path:
        """A new, empty staging folder for a job's derived files, inside the check's
        folder; ``FileNotFoundError`` when that folder is gone (the check was deleted)."""
        ...

    def publish_derived(self, tenant: str, check_id: str, staging: Path) -> None:
        """Put ``staging`` in the place of the check's derived files (a rename)."""
        ...

    def delete_check(self, tenant: str, check_id: str) -> None:
        """Remove the video and everything derived from it."""
        ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """Files under ``<root>/<tenant>/<check_id>/``: ``video`` and ``derived/``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)  # uploads are private: folders 0700 (older ones were 0755)

    def _dir(self, tenant: str, check_id: str) -> Path:
        # Ids come from the server, but a wrong one must never escape the root.
        if not (_SAFE_ID.match(tenant) and _SAFE_ID.match(check_id)):
            raise ValueError(f"unsafe storage id: {tenant!r}/{check_id!r}")
        return self.root / tenant / check_id

    def _video_name(self, name: str) -> str:
        if not _VIDEO_NAME.match(name):
            raise ValueError(f"unsafe video name: {name!r}")
        return name

    def _video_target(self, tenant: str, check_id: str, name: str) -> tuple[Path, Path]:
        """The check's folder, made (owner only), and the path of its video ``name``."""
        folder = self._dir(tenant, check_id)
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder, folder / self._video_name(name)

    def put_stream(
        self, tenant: str, check_id: str, fileobj: BinaryIO, name: str = "video"
    ) -> StoredFile:
        folder, target = self._video_target(tenant, check_id, name)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(prefix=".video.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                while block := fileobj.read(CHUNK):
                    h.update(block)
                    out.write(block)
                    size += len(block)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return StoredFile(target, h.hexdigest(), size)

    def put_file(self, tenant: str, check_id: str, source: Path, name: str = "video") -> StoredFile:
        folder, target = self._video_target(tenant, check_id, name)
        # Hashed where it lies (the upload fsynced every chunk), then hard-linked: a 4 GB
        # original is read once more, never copied, and the upload keeps its bytes until
        # the check is committed (a refused case leaves the merchant's uploads whole).
        h = hashlib.sha256()
        size = 0
        with open(source, "rb") as f:
            while block := f.read(CHUNK):
                h.update(block)
                size += len(block)
        tmp = folder / f".video.{secrets.token_hex(8)}.part"
        try:
            os.link(source, tmp)
        except OSError:  # a file system without hard links: copy it (once)
            with open(source, "rb") as f:
                return self.put_stream(tenant, check_id, f, name)
        try:
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(folder)
        return StoredFile(target, h.hexdigest(), size)

    def video_path(self, tenant: str, check_id: str) -> Path:
        return self._dir(tenant, check_id) / "video"

    def video_paths(self, tenant: str, check_id: str) -> list[Path]:
        folder = self._dir(tenant, check_id)
        more: list[tuple[int, Path]] = []
        with contextlib.suppress(OSError):
            for p in folder.iterdir():
                if (m := _VIDEO_NAME.match(p.name)) and m["n"] and p.is_file():
                    more.append((int(m["n"]), p))
        return [folder / "video"] + [p for _, p in sorted(more)]

    def open(self, tenant: str, check_id: str) -> BinaryIO:
        return open(self.video_path(tenant, check_id), "rb")

    def derived_dir(self, tenant: str, check_id: str) -> Path:
        return self._dir(tenant, check_id) / "derived"

    def derived_file(self, tenant: str, check_id: str, name: str) -> Path | None:
        if not _SAFE_NAME.match(name):
            return None
        path = self.derived_dir(tenant, check_id) / name
        return path if path.is_file() else None

    def copy_derived(self, tenant: str, from_id: str, to_id: str) -> None:
        src = self.derived_dir(tenant, from_id)
        if src.is_dir():
            staging = self.begin_derived(tenant, to_id)
            shutil.copytree(src, staging, dirs_exist_ok=True)
            self.publish_derived(tenant, to_id, staging)

    def begin_derived(self, tenant: str, check_id: str) -> Path:
        staging = self._dir(tenant, check_id) / f"{_STAGING}{secrets.token_hex(8)}"
        staging.mkdir(mode=0o700)  # never its parents: a deleted check stays deleted
        return staging

    def publish_derived(self, tenant: str, check_id: str, staging: Path) -> None:
        target = self.derived_dir(tenant, check_id)
        old = target.with_name(f"{_STAGING}old-{secrets.token_hex(8)}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(target, old)  # a former attempt's files (a rerun after a crash)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)

    def delete_check(self, tenant: str, check_id: str) -> None:
        folder = self._dir(tenant, check_id)
        if folder.exists():
            # Rename first so a half-finished delete never looks like a live check.
            trash = folder.with_name(f"{_DELETED}{check_id}.{secrets.token_hex(4)}")
            try:
                os.replace(folder, trash)
            except FileNotFoundError:
                return  # deleted at the same moment by another (a job that found it gone)
            shutil.rmtree(trash, ignore_errors=True)

    def orphans(
        self,
        live: Callable[[Iterable[str]], set[str]],
        older_than_s: float,
        stale_staging_s: float,
    ) -> list[Path]:
        """Folders nothing will use again: a check folder whose id ``live`` (the store's
        query: the ids that still have a row) does not return, older than
        ``older_than_s`` (an upload writes its file a moment before its row); the
        leftovers of an interrupted deletion; and in a live check's folder, a job's
        staging folder untouched for ``stale_staging_s`` (longer than a job may run: its
        process was killed)."""
        now = time.time()
        found: list[Path] = []
        for tenant in _subdirs(self.root):
            folders = _subdirs(tenant)
            old = [p for p in folders if _mtime(p) < now - older_than_s]
            ids = [p.name for p in old if _SAFE_ID.match(p.name)]
            dead = set(ids) - (live(ids) if ids else set())
            found += [p for p in old if p.name.startswith(_DELETED) or p.name in dead]
            for check in folders:
                if _SAFE_ID.match(check.name) and check.name not in dead:
                    found += [
                        p
                        for p in _subdirs(check)
                        if p.name.startswith(_STAGING) and _mtime(p) < now - stale_staging_s
                    ]
        return found


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:  # removed meanwhile
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone meanwhile: nothing to sweep


def local_storage(data_dir: str | Path) -> LocalStorage:
    """The storage under DATA_DIR."""
    return LocalStorage(Path(data_dir) / "files")
