"""Recording sessions: a video received chunk by chunk while the camera runs, witnessed.

A session is opened by a ticket system (``POST /api/v1/recordings``) or by the form's
"record now" page; the page uploads a chunk of about a second at a time (its sequence
number, its bytes and their SHA-256). This module keeps the sessions on disk, under
``<DATA_DIR>/recordings/<id>/``, never a whole recording in memory::

    session.json        who opened it, when (server clock), the case and policy, the
                        hash of the page's token, the state (recording | stopped)
    chunks/000042       chunk 42's bytes (written atomically)
    chunks/000042.json  its size, SHA-256 and arrival time (server clock), written once:
                        a resent chunk keeps its first arrival (the witness's truth)
    lock                flock'd while a chunk is stored or the session stops

At ``stop`` the chunks must be 0..n-1 without a hole (the page resends what it queued
during a dropped connection; ``ChunksMissing`` names the holes); they are joined into
the check's video file (streamed, hashed on the way), the witness record is built and
signed (``validator.witness``), kept beside the video as ``witness.json``, and the
check is queued like an upload. The runner hands the witness to ``check_case``.

Arrival times come from a ``validator.clock.Clock`` (tests drive it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import secrets
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from validator.clock import Clock, default
from validator.errors import UsageError
from validator.files import write_bytes
from validator.timeutil import iso, parse_time
from validator.witness import Chunk

SESSION = "session.json"
WITNESS = "witness.json"  # in the check's storage folder, beside ``video``
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
COPY_BYTES = 1 << 20


class RecordingError(UsageError):
    """A chunk or a stop the session cannot take; ``http_status`` is the web's answer."""

    code = "recording_error"
    http_status = 400


class RecordingNotFound(RecordingError):
    code = "recording_not_found"
    http_status = 404


class RecordingClosed(RecordingError):
    """The session was stopped: no more chunks (a resent chunk it has is still 200)."""

    code = "recording_closed"
    http_status = 409


class ChunkOutOfRange(RecordingError):
    code = "chunk_out_of_range"
    http_status = 400


class ChunkTooLarge(RecordingError):
    code = "chunk_too_large"
    http_status = 413


class ChunkHashMismatch(RecordingError):
    """The bytes that arrived do not hash to the SHA-256 the page sent: cut in transit."""

    code = "chunk_hash_mismatch"
    http_status = 422


class ChunkConflict(RecordingError):
    """A chunk number already received with other bytes: a chunk is never replaced."""

    code = "chunk_conflict"
    http_status = 409


class ChunksMissing(RecordingError):
    code = "chunks_missing"
    http_status = 409


class RecordingTooLarge(RecordingError):
    code = "recording_too_large"
    http_status = 413


class TooManyRecordings(RecordingError):
    """A tenant (or the form's browser session) has as many open sessions as allowed."""

    code = "too_many_recordings"
    http_status = 429


RECORDING_ERRORS: tuple[type[RecordingError], ...] = (
    RecordingNotFound,
    RecordingClosed,
    ChunkOutOfRange,
    ChunkTooLarge,
    ChunkHashMismatch,
    ChunkConflict,
    ChunksMissing,
    RecordingTooLarge,
    TooManyRecordings,
)


@dataclass(frozen=True)
class Limits:
    """The bounds of one recording (the RECORDING_* settings)."""

    chunk_interval_s: float = 1.0
    max_chunks: int = 3600
    max_chunk_bytes: int = 16 << 20
    max_total_bytes: int = 500 << 20
    max_open: int = 20  # open (recording) sessions per tenant, or per form browser session
    # A session still open this long after its last chunk (or its creation) was left:
    # removed, so an abandoned link holds no disk. A day: a link a ticket system sent
    # in the morning is still good in the afternoon, and a recording lasts minutes.
    abandoned_after_s: float = 86400.0


@dataclass(frozen=True)
class Session:
    """A recording session as ``session.json`` holds it."""

    id: str
    tenant_id: int
    created_at: datetime
    token_hash: str
    state: str  # recording | stopped
    case: dict[str, Any] | None = None
    policy: str = "default"
    policy_digest: str = ""
    callback_url: str | None = None
    api_key_id: str | None = None
    web_session: str | None = None
    check_id: str | None = None
    stopped_at: datetime | None = None
    chunk_count: int | None = None  # set at stop (the chunks' files are gone then)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "created_at": iso(self.created_at),
            "token_hash": self.token_hash,
            "state": self.state,
            "case": self.case,
            "policy": self.policy,
            "policy_digest": self.policy_digest,
            "callback_url": self.callback_url,
            "api_key_id": self.api_key_id,
            "web_session": self.web_session,
            "check_id": self.check_id,
            "stopped_at": iso(self.stopped_at),
            "chunk_count": self.chunk_count,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Session:
        return cls(
            **{
                **d,
                "created_at": parse_time(d["created_at"]),
                "stopped_at": parse_time(d["stopped_at"]) if d.get("stopped_at") else None,
            }
        )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Received:
    """What storing a chunk did: its record, and whether it was a resend of one we had."""

    chunk: Chunk
    duplicate: bool


class Recordings:
    """The sessions under ``root`` (``<DATA_DIR>/recordings``)."""

    def __init__(self, root: Path, limits: Limits | None = None, clock: Clock | None = None):
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.limits = limits or Limits()
        self.clock = clock

    def _now(self) -> datetime:
        return (self.clock or default()).now()

    def _dir(self, rec_id: str) -> Path:
        if not _ID.match(rec_id):
            raise RecordingNotFound(f"no recording {rec_id!r}", details={"id": rec_id})
        return self.root / rec_id

    @contextlib.contextmanager
    def _locked(self, rec_id: str) -> Iterator[Path]:
        folder = self._dir(rec_id)
        if not (folder / SESSION).is_file():
            raise RecordingNotFound(f"no recording {rec_id!r}", details={"id": rec_id})
        with open(folder / "lock", "a+b") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- sessions ------------------------------------------------------------------------

    def _open_sessions(self) -> Iterator[tuple[Path, Session]]:
        for folder in self.root.iterdir():
            try:
                d = json.loads((folder / SESSION).read_text("utf-8"))
            except (OSError, ValueError):
                continue  # being created or removed
            if d.get("state") == "recording":
                yield folder, Session.from_json(d)

    def _last_activity(self, folder: Path, session: Session) -> datetime:
        metas = sorted((folder / "chunks").glob("*.json"))
        times = [session.created_at]
        for meta in metas:
            with contextlib.suppress(OSError, ValueError, KeyError):
                times.append(parse_time(json.loads(meta.read_text("utf-8"))["received_at"]))
        return max(times)

    def create(self, *, tenant_id: int, **fields: Any) -> tuple[Session, str]:
        """A new session and its page token (shown once; only its hash is kept).

        Open sessions are bounded per tenant (per browser session for the form's tenant,
        whose visitors share it): ``max_open``; sessions abandoned for
        ``abandoned_after_s`` are removed first."""
        now = self._now()
        mine = 0
        for folder, old in list(self._open_sessions()):
            idle = (now - self._last_activity(folder, old)).total_seconds()
            if idle > self.limits.abandoned_after_s:
                shutil.rmtree(folder, ignore_errors=True)
                continue
            same_owner = old.tenant_id == tenant_id and (
                fields.get("web_session") is None or old.web_session == fields.get("web_session")
            )
            mine += same_owner
        if mine >= self.limits.max_open:
            raise TooManyRecordings(
                f"{mine} recordings are open; stop one (or let it lapse: an unused one is "
                f"removed after {self.limits.abandoned_after_s / 3600:g} h) before opening "
                "another",
                details={"max_open": self.limits.max_open},
            )
        token = secrets.token_urlsafe(24)
        rec_id = str(uuid.uuid4())
        folder = self.root / rec_id
        (folder / "chunks").mkdir(mode=0o700, parents=True)
        session = Session(
            id=rec_id,
            tenant_id=tenant_id,
            created_at=self._now(),
            token_hash=token_hash(token),
            state="recording",
            **fields,
        )
        self._save(session)
        return session, token

    def _save(self, session: Session) -> None:
        data = json.dumps(session.to_json(), ensure_ascii=False).encode()
        write_bytes(self.root / session.id / SESSION, data, mode=0o600)

    def get(self, rec_id: str) -> Session:
        try:
            text = (self._dir(rec_id) / SESSION).read_text("utf-8")
        except FileNotFoundError:
            raise RecordingNotFound(f"no recording {rec_id!r}", details={"id": rec_id}) from None
        return Session.from_json(json.loads(text))

    def authorized(self, rec_id: str, token: str | None) -> Session:
        """The session when ``token`` is its page token; RecordingNotFound otherwise (a
        wrong token looks like no session)."""
        import hmac

        session = self.get(rec_id)
        if not token or not hmac.compare_digest(token_hash(token), session.token_hash):
            raise RecordingNotFound(f"no recording {rec_id!r}", details={"id": rec_id})
        return session

    def chunks(self, rec_id: str) -> list[Chunk]:
        """The chunks received so far, by sequence number."""
        out = []
        for meta in sorted((self._dir(rec_id) / "chunks").glob("*.json")):
            d = json.loads(meta.read_text("utf-8"))
            out.append(Chunk(d["seq"], d["size_bytes"], d["sha256"], parse_time(d["received_at"])))
        return out

    # -- chunks ----------------------------------------------------------------------------

    def put_chunk(self, rec_id: str, seq: int, data: bytes, sha256: str) -> Received:
        """Store chunk ``seq`` (``data`` is at most ``max_chunk_bytes``: the web layer
        reads no more). The arrival time is taken first, before any waiting for the lock."""
        received_at = self._now()
        lim = self.limits
        if not 0 <= seq < lim.max_chunks:
            raise ChunkOutOfRange(
                f"chunk number {seq} is out of range: a recording has chunks 0 to "
                f"{lim.max_chunks - 1} ({lim.max_chunks} chunks of about "
                f"{lim.chunk_interval_s:g} s)",
                details={"seq": seq, "max_chunks": lim.max_chunks},
            )
        sha256 = sha256.strip().lower()
        if not _SHA256.match(sha256):
            raise ChunkHashMismatch(
                "send the chunk's SHA-256 as 64 hex digits (header X-Chunk-SHA256)",
                details={"seq": seq, "reason": "no_hash"},
            )
        if len(data) > lim.max_chunk_bytes:
            raise ChunkTooLarge(
                f"chunk {seq} has more than {lim.max_chunk_bytes} bytes; record with a "
                "lower bit rate or shorter chunks",
                details={"seq": seq, "max_bytes": lim.max_chunk_bytes},
            )
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise ChunkHashMismatch(
                f"chunk {seq}: the bytes received do not match the SHA-256 sent (it was "
                "cut or changed in transit); send it again",
                details={"seq": seq, "reason": "hash_mismatch", "received_sha256": got},
            )
        with self._locked(rec_id) as folder:
            meta = folder / "chunks" / f"{seq:06d}.json"
            if meta.is_file():
                old = json.loads(meta.read_text("utf-8"))
                if old["sha256"] != sha256:
                    raise ChunkConflict(
                        f"chunk {seq} was already received with other bytes; a chunk is "
                        "never replaced",
                        details={"seq": seq, "sha256": old["sha256"]},
                    )
                chunk = Chunk(seq, old["size_bytes"], sha256, parse_time(old["received_at"]))
                return Received(chunk, duplicate=True)
            session = Session.from_json(json.loads((folder / SESSION).read_text("utf-8")))
            if session.state != "recording":
                raise RecordingClosed(
                    f"the recording was stopped; chunk {seq} came after the stop",
                    details={"seq": seq},
                )
            total = sum(c.size_bytes for c in self.chunks(rec_id)) + len(data)
            if total > lim.max_total_bytes:
                raise RecordingTooLarge(
                    f"the recording is over {lim.max_total_bytes >> 20} MB; stop it and "
                    "record the rest as a second video",
                    details={"max_bytes": lim.max_total_bytes},
                )
            write_bytes(folder / "chunks" / f"{seq:06d}", data, mode=0o600)
            chunk = Chunk(seq, len(data), sha256, received_at)
            record = {"seq": seq, "size_bytes": len(data), "sha256": sha256,
                      "received_at": iso(received_at)}  # fmt: skip
            write_bytes(meta, json.dumps(record).encode(), mode=0o600)
            return Received(chunk, duplicate=False)

    # -- stop ------------------------------------------------------------------------------

    def stop(self, rec_id: str, assemble: Any) -> Session:
        """Close the session and hand its joined chunks to ``assemble(session, chunks,
        fileobj) -> check_id`` (which stores the file, signs the witness, queues the
        check). Idempotent: a stopped session returns as it is."""
        with self._locked(rec_id) as folder:
            session = Session.from_json(json.loads((folder / SESSION).read_text("utf-8")))
            if session.state == "stopped":
                return session
            chunks = self.chunks(rec_id)
            have = {c.seq for c in chunks}
            top = max(have, default=-1)
            missing = [s for s in range(top + 1) if s not in have]
            if not chunks or missing:
                raise ChunksMissing(
                    "no chunk has arrived yet; record for a moment before stopping"
                    if not chunks
                    else f"chunk(s) {missing[:20]} have not arrived; the page sends them "
                    "again when the network is back, then stop again",
                    details={"missing": missing[:200], "received": len(chunks)},
                )
            stopped_at = self._now()
            with _Joined(folder / "chunks", [c.seq for c in chunks]) as joined:
                check_id = assemble(session, chunks, joined)
            session = Session.from_json(
                {**session.to_json(), "state": "stopped", "check_id": check_id,
                 "stopped_at": iso(stopped_at), "chunk_count": len(chunks)}
            )  # fmt: skip
            self._save(session)
            # The chunks live on in the check's video (and the witness lists them).
            shutil.rmtree(folder / "chunks", ignore_errors=True)
            return session


class _Joined:
    """The chunks' files read one after another as one file object (``read(n)``)."""

    def __init__(self, folder: Path, seqs: list[int]) -> None:
        self.paths = [folder / f"{s:06d}" for s in seqs]
        self.current: Any = None

    def __enter__(self) -> _Joined:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.current is not None:
            self.current.close()

    def read(self, n: int = -1) -> bytes:
        size = COPY_BYTES if n is None or n < 0 else n
        while True:
            if self.current is None:
                if not self.paths:
                    return b""
                self.current = open(self.paths.pop(0), "rb")  # noqa: SIM115 (closed below)
            data = self.current.read(size)
            if data:
                return data
            self.current.close()
            self.current = None


def remove(root: Path, rec_id: str) -> None:
    """Remove a session's folder (tests; a sweeper)."""
    if _ID.match(rec_id):
        shutil.rmtree(Path(root) / rec_id, ignore_errors=True)


__all__ = ["RECORDING_ERRORS", "Limits", "Recordings", "Session"]
