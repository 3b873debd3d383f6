"""Resumable uploads: a video sent in chunks, its offset kept on the server.

The core of the tus protocol (https://tus.io/protocols/resumable-upload, "Core
Protocol"): a client creates an upload of a declared length, appends chunks at the
offset the server has, and after a dropped connection asks for that offset and goes
on from there, instead of sending gigabytes again. This module keeps the uploads on
disk and knows nothing of HTTP (``validator.web.resumable`` is the adapter)::

    <DATA_DIR>/uploads/<owner>/<upload id>/data        the bytes received so far
    <DATA_DIR>/uploads/<owner>/<upload id>/meta.json   length, offset, name, times

The offset of record is ``meta.json``'s, written atomically (``files.write_json``)
after the data is fsynced: a crash between the two leaves bytes past the offset,
which the next append truncates, so the data never has a gap or a torn block. An
append that ends early (the client's connection dropped) keeps what arrived: the
client resumes from there (tus does the same). Chunks stream from the request to
the file in blocks of ``BLOCK_BYTES``; no chunk is ever held in memory.

Everything is bounded: the declared length (the upload limit), each chunk's size,
the uploads an owner (a browser session) has open at once, all owners' open uploads and
the bytes they declare (a new session is free to make), the free disk (checked against
what the open uploads may still send), and their age (an upload untouched for
``expiry_s``, or older than ``max_age_s`` however touched, is gone; ``sweep`` removes
it, called when anyone creates one and by the workers' hourly sweep). Only an append
that writes bytes counts as a touch. One append at a time per upload: a second one
that arrives meanwhile (a client retrying while its first request still runs) is
refused (``Busy``) rather than interleaved.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO

from validator.files import write_json

BLOCK_BYTES = 1 << 20  # read from the request and written in 1 MiB blocks
# Free disk an upload's creation leaves beyond what the open uploads may still send:
# room for the database's journal and a check's pictures, so that uploads never fill
# the disk the service needs to run (SQLite fails every write on a full disk).
DISK_RESERVE_BYTES = 256 << 20
# An upload no byte has reached for this long, and with no chunk being written, is one
# a new upload of its owner may replace at the owner's limit (a reloaded page's). The
# page's 8 MiB chunk holds the upload's lock however slow the uplink; between chunks
# its next one follows within a second or two.
IDLE_S = 30.0
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_META = "meta.json"
_DATA = "data"
# A claimed upload's folder, beside the others (a dot: no upload id can name it).
_CLAIMED = ".claimed-"
_TREE_LOCK = ".lock"  # a file: never listed as an owner's folder


class PartialError(Exception):
    """Base of this module's refusals (the web adapter turns each into its status)."""


class UploadMissing(PartialError):
    """No such upload for this owner: never made, finished, cancelled or expired."""


class OffsetMismatch(PartialError):
    """The client's offset is not the server's (tus: 409); ``offset`` is the server's."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the upload is at byte {offset}")
        self.offset = offset


class TooLarge(PartialError):
    """A declared length over the limit (``what`` "video"), a chunk over the chunk limit
    ("chunk") or past the declared length ("past_length"): three causes, three fixes."""

    def __init__(self, message: str, limit_bytes: int, what: str = "video") -> None:
        super().__init__(message)
        self.limit_bytes = limit_bytes
        self.what = what


class TooManyOpen(PartialError):
    """The owner has ``limit`` uploads open already, each receiving bytes lately."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} uploads are open already")
        self.limit = limit


class NoRoom(PartialError):
    """The service as a whole has no room for another upload of this length: all
    sessions' open uploads (``what`` "open") or their declared bytes ("bytes") are at
    their cap, or the disk has not that much free ("disk")."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what


class CutShort(PartialError):
    """The chunk's body ended before its declared size (the connection dropped); what
    arrived is kept: ``offset`` is where the upload goes on."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the chunk ended early; the upload is at byte {offset}")
        self.offset = offset


class Busy(PartialError):
    """Another request is appending to this upload right now."""


class Incomplete(PartialError):
    """The upload has not received all its bytes yet."""

    def __init__(self, offset: int, length: int) -> None:
        super().__init__(f"the upload has {offset} of {length} bytes")
        self.offset = offset
        self.length = length


@dataclass(frozen=True, slots=True)
class Partial:
    """One upload's state, as ``meta.json`` keeps it."""

    id: str
    length: int  # bytes declared at creation
    offset: int  # bytes received and fsynced
    filename: str | None  # the client's, for display only
    created_at: float  # Unix time
    updated_at: float  # Unix time of the last append that wrote bytes (or the creation)

    @property
    def complete(self) -> bool:
        return self.offset == self.length


class Claim:
    """A complete upload a check is taking (``PartialUploads.claim``): ``data`` is its
    file; it holds the upload's lock until ``discard`` or ``release``."""

    def __init__(
        self, part: Partial, data: Path, home: Path, claimed: Path, lock: IO[bytes],
        tidy: Callable[[Path], None],
    ) -> None:  # fmt: skip
        self.part = part
        self._tidy = tidy
        self.data = data
        self._home = home
        self._claimed = claimed
        self._lock: IO[bytes] | None = lock

    def discard(self) -> None:
        """The check has its bytes: remove the upload."""
        if self._lock is None:
            return
        try:
            shutil.rmtree(self._claimed, ignore_errors=True)
            self._tidy(self._home.parent)  # the owner's folder, when it was the last one
        finally:
            self._lock.close()
            self._lock = None

    def release(self) -> None:
        """The check was refused: the upload is the merchant's again, as it was."""
        if self._lock is None:
            return
        try:
            os.rename(self._claimed, self._home)
        finally:
            self._lock.close()
            self._lock = None


class PartialUploads:
    """The uploads under ``root`` (``<DATA_DIR>/uploads``); ``clock`` gives Unix time."""

    def __init__(
        self, root: str | Path, *, expiry_s: float, max_age_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.root = Path(root)
        self.expiry_s = expiry_s
        # However often it is touched, an upload older than this is gone: a client that
        # sends a byte a day would otherwise hold its declared length for ever.
        self.max_age_s = max_age_s
        self.clock = clock

    def _folder(self, owner: str, upload_id: str) -> Path:
        # Ids come from the server and the session; a wrong one must never escape the root.
        if not (_SAFE_ID.match(owner) and _SAFE_ID.match(upload_id)):
            raise UploadMissing(upload_id)
        return self.root / owner / upload_id

    def create(
        self, owner: str, length: int, filename: str | None, *, max_bytes: int, max_open: int,
        max_open_total: int | None = None, max_total_bytes: int | None = None,
    ) -> Partial:  # fmt: skip
        """A new, empty upload of ``length`` bytes for ``owner``: at most ``max_open`` of
        the owner's, ``max_open_total`` of everyone's, ``max_total_bytes`` declared by
        everyone's together, and the disk must have room for what all of them still need
        (``NoRoom``): a new session costs nothing, so the per-owner limit alone bounded
        nothing."""
        if length > max_bytes:
            raise TooLarge(f"{length} bytes declared; at most {max_bytes}", max_bytes)
        if not _SAFE_ID.match(owner):
            raise UploadMissing(owner)
        self.sweep()  # everyone's: expired uploads of other sessions count against the caps
        mine = self.root / owner
        # Count and make under one lock: two creations at once both counted one short of
        # the limit and both made theirs (and the owner's folder is removed under it too).
        with self._tree_lock():
            if len(_subdirs(mine)) >= max_open and not self._evict_idle(mine):
                raise TooManyOpen(max_open)
            self._check_room(length, max_open_total, max_total_bytes)
            now = self.clock()
            part = Partial(uuid.uuid4().hex, length, 0, filename, now, now)
            folder = mine / part.id
            folder.mkdir(mode=0o700, parents=True)
            # The parents too: uploads are as private as the checks' folders (storage.py).
            for p in (self.root, mine):
                p.chmod(0o700)
            fd = os.open(folder / _DATA, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            write_json(folder / _META, asdict(part))
        return part

    def _check_room(
        self, length: int, max_open_total: int | None, max_total_bytes: int | None
    ) -> None:
        """``NoRoom`` unless one more upload of ``length`` bytes fits (under the tree lock)."""
        declared = pending = count = 0
        for mine in _subdirs(self.root):
            for folder in _subdirs(mine):
                count += 1
                try:
                    meta = json.loads((folder / _META).read_text("utf-8"))
                    size, got = int(meta["length"]), int(meta["offset"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # half-made or half-removed: the sweep's
                declared += size
                pending += max(size - got, 0)
        if max_open_total is not None and count >= max_open_total:
            raise NoRoom("open", f"{count} uploads are open on this service; at most "
                         f"{max_open_total}")  # fmt: skip
        if max_total_bytes is not None and declared + length > max_total_bytes:
            raise NoRoom("bytes", f"open uploads declare {declared} bytes; with {length} more "
                         f"that is over {max_total_bytes}")  # fmt: skip
        # The bytes every open upload may still send, this one's too, and a reserve.
        free = shutil.disk_usage(self.root).free
        if free < pending + length + DISK_RESERVE_BYTES:
            raise NoRoom("disk", f"{free} bytes free; open uploads may still send "
                         f"{pending + length}")  # fmt: skip

    def _evict_idle(self, mine: Path) -> bool:
        """At the owner's limit, remove its upload that went longest without a byte, if
        none has come for ``IDLE_S`` and no chunk is being written to it: a page
        reloaded mid-upload leaves its upload behind, and eight reloads locked the
        merchant out for the day (``expiry_s``). True when one was removed."""
        now = self.clock()

        def touched(folder: Path) -> float:
            try:
                return float(json.loads((folder / _META).read_text("utf-8"))["updated_at"])
            except (OSError, ValueError, KeyError, TypeError):
                return _mtime(folder)

        def idle(folder: Path) -> bool:
            return now - touched(folder) >= IDLE_S

        mine_open = [f for f in _subdirs(mine) if not f.name.startswith(_CLAIMED)]
        for folder in sorted(mine_open, key=touched):
            if idle(folder) and self._remove(folder, idle):
                return True
        return False

    @contextlib.contextmanager
    def _tree_lock(self) -> Iterator[None]:
        """The uploads' folders change shape (made, owner folder removed) one at a time,
        across the web's processes (an flock on ``<root>/.lock``, held briefly)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # 0600 like the uploads' own files (the folders are 0700).
        fd = os.open(self.root / _TREE_LOCK, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            yield

    def _tidy(self, mine: Path) -> None:
        """Remove the owner's folder when its last upload is gone."""
        with self._tree_lock(), contextlib.suppress(OSError):
            mine.rmdir()

    def _remove(self, folder: Path, still: Callable[[Path], bool] | None = None) -> bool:
        """Remove one upload's folder under its lock (``LOCK_NB``), when ``still(folder)``
        holds once the lock is taken; False when a request is writing to it (or holds it
        for a check) or ``still`` no longer holds. A folder without data goes as it is."""
        try:
            f = open(folder / _DATA, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            if not folder.is_dir():
                return False
            shutil.rmtree(folder, ignore_errors=True)  # a creation that died half-way
            return True
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            # Under the lock, the folder may have been claimed or removed meanwhile.
            if not (folder / _DATA).exists() or (still is not None and not still(folder)):
                return False
            shutil.rmtree(folder, ignore_errors=True)
        return True

    def get(self, owner: str, upload_id: str) -> Partial:
        """The upload's state; ``UploadMissing`` when there is none or it expired."""
        folder = self._folder(owner, upload_id)
        try:
            part = Partial(**json.loads((folder / _META).read_text("utf-8")))
        except (OSError, ValueError, TypeError) as e:
            raise UploadMissing(upload_id) from e
        if self._expired(part):
            raise UploadMissing(upload_id)
        return part

    def append(
        self, owner: str, upload_id: str, offset: int, size: int, stream: IO[bytes], *,
        max_chunk: int,
    ) -> Partial:  # fmt: skip
        """Append ``size`` bytes of ``stream`` at ``offset``; the state after.

        What arrives before the stream ends early (``CutShort``) or raises (werkzeug's
        ``ClientDisconnected``) is kept and counted, and the error propagates.
        """
        if size > max_chunk:
            raise TooLarge(f"a chunk of {size} bytes; at most {max_chunk}", max_chunk, "chunk")
        folder = self._folder(owner, upload_id)
        try:
            f = open(folder / _DATA, "r+b")  # noqa: SIM115 (closed below, after the lock)
        except OSError as e:
            raise UploadMissing(upload_id) from e
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise Busy(upload_id) from e
            part = self.get(owner, upload_id)  # under the lock: the offset of record
            if offset != part.offset:
                raise OffsetMismatch(part.offset)
            if offset + size > part.length:
                room = part.length - offset
                raise TooLarge(
                    f"{size} bytes past the declared length; {room} remain", room, "past_length"
                )
            f.truncate(offset)  # bytes a crash left past the offset of record
            f.seek(offset)
            written = 0
            try:
                while written < size:
                    block = stream.read(min(BLOCK_BYTES, size - written))
                    if not block:
                        break
                    f.write(block)
                    written += len(block)
            finally:
                f.flush()
                os.fsync(f.fileno())
                # Only bytes keep an upload alive: an empty PATCH (Content-Length: 0)
                # refreshed it, so an upload never expired and its length stayed held.
                if written:
                    part = replace(part, offset=offset + written, updated_at=self.clock())
                    write_json(folder / _META, asdict(part))
        if written < size:
            raise CutShort(part.offset)
        return part

    def data_path(self, owner: str, upload_id: str) -> tuple[Partial, Path]:
        """A complete upload and its data file (``Incomplete`` before its last byte), to
        read; a check takes it with ``claim``."""
        part = self.get(owner, upload_id)
        if not part.complete:
            raise Incomplete(part.offset, part.length)
        return part, self._folder(owner, upload_id) / _DATA

    def claim(self, owner: str, upload_id: str) -> Claim:
        """Take a complete upload for a check, atomically: its folder is renamed out of
        reach (a second claim, an append, a cancel now find no such upload) while its
        lock is held, so two requests naming the same upload never both get it.

        ``Claim.discard`` removes it once the check is committed; ``Claim.release``
        gives it back, untouched, when the check is refused (the merchant need not send
        the gigabytes again). ``Busy`` while a chunk is being written or another request
        holds it; ``UploadMissing`` when it is gone; ``Incomplete`` before its last byte.
        """
        folder = self._folder(owner, upload_id)
        try:
            f = open(folder / _DATA, "rb")  # noqa: SIM115 (the claim closes it)
        except OSError as e:
            raise UploadMissing(upload_id) from e
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise Busy(upload_id) from e
            # Under the lock: an earlier claim may have taken it (and removed it) between
            # our open and our lock; its meta.json is then gone from this path.
            part = self.get(owner, upload_id)
            if not part.complete:
                raise Incomplete(part.offset, part.length)
            claimed = folder.with_name(f"{_CLAIMED}{upload_id}")
            try:
                os.rename(folder, claimed)
            except OSError as e:
                raise UploadMissing(upload_id) from e
        except BaseException:
            f.close()
            raise
        return Claim(part, claimed / _DATA, folder, claimed, f, self._tidy)

    def discard(self, owner: str, upload_id: str) -> None:
        """Remove the upload (cancelled): ``Busy`` while a chunk is being written to it
        (the writer would fail half-way), ``UploadMissing`` when it is gone already."""
        folder = self._folder(owner, upload_id)
        if not (folder / _DATA).exists():
            raise UploadMissing(upload_id)
        if not self._remove(folder):
            if not (folder / _DATA).exists():
                raise UploadMissing(upload_id)
            raise Busy(upload_id)
        self._tidy(folder.parent)

    def open_count(self, owner: str) -> int:
        return len(_subdirs(self.root / owner)) if _SAFE_ID.match(owner) else 0

    def _expired(self, part: Partial) -> bool:
        return self._too_old(part.created_at, part.updated_at)

    def _too_old(self, created_at: float, updated_at: float) -> bool:
        now = self.clock()
        if self.max_age_s is not None and now - created_at > self.max_age_s:
            return True
        return now - updated_at > self.expiry_s

    def sweep(self, owner: str | None = None) -> int:
        """Remove expired uploads (``owner``'s only, or everyone's); their count.

        An upload whose ``meta.json`` cannot be read counts by its folder's age.
        """
        owners = [self.root / owner] if owner is not None else _subdirs(self.root)
        removed = 0
        for mine in owners:
            for folder in _subdirs(mine):
                # Under the upload's lock, and only when still expired then: an append
                # that was writing has just refreshed it (it failed with a 500 before).
                if self._expired_folder(folder) and self._remove(folder, self._expired_folder):
                    removed += 1
            self._tidy(mine)
        return removed

    def _expired_folder(self, folder: Path) -> bool:
        try:
            meta = json.loads((folder / _META).read_text("utf-8"))
            touched = float(meta["updated_at"])
            born = float(meta["created_at"])
        except (OSError, ValueError, KeyError, TypeError):
            touched = born = _mtime(folder)
        return self._too_old(born, touched)


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:  # not made yet, or removed meanwhile
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def partial_uploads(
    data_dir: str | Path, expiry_s: float, max_age_s: float | None = None
) -> PartialUploads:
    """The resumable uploads under DATA_DIR."""
    return PartialUploads(Path(data_dir) / "uploads", expiry_s=expiry_s, max_age_s=max_age_s)
