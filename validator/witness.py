"""The witness record of a recording made through the service, and its offline check.

A recording session receives its video in chunks of about a second while the
camera runs (``validator.jobs.recordings``). The service notes each chunk's arrival
on its own clock and chains the chunks' hashes::

    chain[-1] = SHA-256("appeal-validator/witness/v1\\n" + recording id)
    chain[i]  = SHA-256(chain[i-1] || SHA-256(chunk i))      (raw 32-byte digests)

so the final chain hash covers every chunk in order and nothing else. At stop the
chunks are joined into the file and the witness record is made (``build``): the
session's creation, the first and last chunk's arrival, the chunk count, the
gaps in arrival, each chunk's size, hash and arrival, the final chain hash and the
file's SHA-256, signed with the service's Ed25519 key (``sign``; the signature
covers the record's canonical JSON: keys sorted, no spaces, UTF-8).

``verify(video, witness)`` needs no service: it splits the file by the recorded
chunk sizes, recomputes each chunk's hash, the chain and the file's hash, and
checks the signature (with the public key the record carries, or one the caller
trusts). One changed byte, a dropped or added chunk, or any changed field of the
record is a problem it names.

What it proves, and what not (the README says so too): the bytes existed by the
last chunk's arrival, reached the service at a live pace in one session, and were
not changed since. It does not prove what the camera saw: a camera filming a
screen, or a pre-recorded file fed at a live pace by a modified page, is possible.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from validator.errors import ConfigError
from validator.timeutil import iso

VERSION = "1"
ALGORITHM = "Ed25519"
CHAIN_DOMAIN = b"appeal-validator/witness/v1\n"
KEY_FILE = "witness_key.pem"  # in DATA_DIR, 0600, made on first use
WELL_KNOWN_PATH = "/.well-known/appeal-validator-witness-key"
# A gap in arrival longer than this many chunk intervals is listed in the record: a
# chunk a second arrives every 1 s give or take the network's jitter (the e2e tests on
# loopback see under 0.2 s of it; a phone on 4G a few tenths more).
GAP_FACTOR = 2.0


def chain_seed(recording_id: str) -> bytes:
    """The chain's value before the first chunk: bound to the recording's id."""
    return hashlib.sha256(CHAIN_DOMAIN + recording_id.encode("utf-8")).digest()


def chain_next(previous: bytes, chunk_sha256_hex: str) -> bytes:
    """The chain after one more chunk (its SHA-256 in hex)."""
    return hashlib.sha256(previous + bytes.fromhex(chunk_sha256_hex)).digest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One received chunk: its place, size, hash and arrival on the server's clock."""

    seq: int
    size_bytes: int
    sha256: str
    received_at: datetime


def gaps(chunks: Iterable[Chunk], interval_s: float) -> list[dict[str, Any]]:
    """The pauses in arrival longer than ``GAP_FACTOR`` chunk intervals, in time order:
    ``{"after_seq", "from", "to", "length_s"}`` (the chunk that arrived last before the
    pause, and the pause on the server's clock)."""
    ordered = sorted(chunks, key=lambda c: (c.received_at, c.seq))
    out = []
    for a, b in itertools.pairwise(ordered):
        length = (b.received_at - a.received_at).total_seconds()
        if length > GAP_FACTOR * interval_s:
            out.append(
                {
                    "after_seq": a.seq,
                    "from": iso(a.received_at),
                    "to": iso(b.received_at),
                    "length_s": round(length, 3),
                }
            )
    return out


def build(
    *,
    recording_id: str,
    created_at: datetime,
    chunks: list[Chunk],
    chunk_interval_s: float,
    file_sha256: str,
    file_size_bytes: int,
) -> dict[str, Any]:
    """The unsigned witness record of a stopped recording (chunks in ``seq`` order 0..n-1)."""
    if not chunks:
        raise ValueError("a witness needs at least one chunk")
    chain = chain_seed(recording_id)
    for c in chunks:
        chain = chain_next(chain, c.sha256)
    arrivals = [c.received_at for c in chunks]
    found = gaps(chunks, chunk_interval_s)
    return {
        "version": VERSION,
        "recording_id": recording_id,
        "created_at": iso(created_at),
        "first_chunk_at": iso(min(arrivals)),
        "last_chunk_at": iso(max(arrivals)),
        "chunk_count": len(chunks),
        "chunk_interval_s": chunk_interval_s,
        "longest_gap_s": max([g["length_s"] for g in found], default=None),
        "gaps": found,
        "chunks": [_chunk_json(c) for c in chunks],
        "chain_sha256": chain.hex(),
        "file_sha256": file_sha256,
        "file_size_bytes": file_size_bytes,
    }


def _chunk_json(c: Chunk) -> dict[str, Any]:
    return {"seq": c.seq, "size_bytes": c.size_bytes, "sha256": c.sha256,
            "received_at": iso(c.received_at)}  # fmt: skip


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: the record without ``signature``, canonical JSON."""
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- keys ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def public_key_bytes(key: Any) -> bytes:
    """The raw 32-byte Ed25519 public key of a private or public key object."""
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    """A short name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def load_or_create_key(data_dir: Path, key_file: Path | None = None) -> Any:
    """The service's Ed25519 private key: ``key_file`` (the WITNESS_KEY_FILE setting,
    PKCS#8 PEM) when given, else ``<data_dir>/witness_key.pem``, made on first use with
    mode 0600 (two processes starting at once both end up with the first one's key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_file or data_dir / KEY_FILE
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        if key_file is not None:
            raise ConfigError(
                f"the witness key file {key_file} does not exist; make one with "
                "'openssl genpkey -algorithm ed25519 -out FILE' or unset "
                "APPEAL_VALIDATOR_WITNESS_KEY_FILE to have one made in DATA_DIR",
                details={"setting": "WITNESS_KEY_FILE"},
            ) from None
        pem = _create_key_file(path)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as e:
        raise ConfigError(
            f"the witness key file {path} is not an unencrypted PEM private key: {e}",
            details={"setting": "WITNESS_KEY_FILE"},
        ) from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"the witness key file {path} holds a {type(key).__name__}, not an Ed25519 key",
            details={"setting": "WITNESS_KEY_FILE"},
        )
    return key


def _create_key_file(path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails when another process won the race: its key is the one
    except FileExistsError:
        pem = path.read_bytes()
    finally:
        os.unlink(tmp)
    return pem


def sign(record: Mapping[str, Any], private_key: Any) -> dict[str, Any]:
    """``record`` with its ``signature``: algorithm, public key (base64), key id, value."""
    raw = public_key_bytes(private_key)
    value = private_key.sign(canonical(record))
    return {
        **{k: v for k, v in record.items() if k != "signature"},
        "signature": {
            "algorithm": ALGORITHM,
            "public_key": _b64(raw),
            "key_id": key_id(raw),
            "value": _b64(value),
        },
    }


def public_key_document(private_key: Any) -> dict[str, Any]:
    """What the well-known URL serves: the public key, raw (base64) and as PEM."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key_bytes(private_key)
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"algorithm": ALGORITHM, "key_id": key_id(raw), "public_key": _b64(raw),
            "pem": pem.decode("ascii")}  # fmt: skip


def read_public_key(text: str | bytes) -> bytes:
    """A trusted public key as a file gives it: PEM, the well-known URL's JSON, or the
    raw key in base64 -> the raw 32 bytes. ``ValueError`` when it is none of them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = text.encode() if isinstance(text, str) else text
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(stripped)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"a {type(key).__name__}, not an Ed25519 public key")
        return public_key_bytes(key)
    if stripped.startswith(b"{"):
        stripped = str(json.loads(stripped).get("public_key") or "").encode()
    raw = base64.b64decode(stripped, validate=True)
    if len(raw) != 32:
        raise ValueError("not a 32-byte Ed25519 public key")
    return raw


# -- the offline check -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One way a file or its record differs from what the service witnessed: ``code``
    (what kind, for a page to say in the reader's language), ``message`` (English, as
    the CLI prints it) and the numbers the message names (``details``)."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verification:
    """The result of ``verify``: ``ok`` when the file and the signature both match."""

    found: list[Problem] = field(default_factory=list)
    key_id: str | None = None

    def add(self, code: str, message: str, **details: Any) -> None:
        self.found.append(Problem(code, message, details))

    @property
    def problems(self) -> list[str]:
        """The problems in English, in the order found."""
        return [p.message for p in self.found]

    @property
    def ok(self) -> bool:
        return not self.found


def find_witness(doc: Any) -> Mapping[str, Any] | None:
    """The witness record in a report, a case report, an API check, or a bare record
    (what ``verify`` is given: report.json, the API's check, or the record alone)."""
    if not isinstance(doc, Mapping):
        return None
    if "chain_sha256" in doc and "signature" in doc:
        return doc
    if isinstance(doc.get("witness"), Mapping):
        return doc["witness"]
    if isinstance(doc.get("report"), Mapping):
        return find_witness(doc["report"])
    videos = doc.get("videos")
    for video in videos if isinstance(videos, list) else []:
        found = find_witness(video)
        if found is not None:
            return found
    return None


def verify(
    video: str | Path | IO[bytes], record: Mapping[str, Any], trusted_key: bytes | None = None
) -> Verification:
    """Check ``video`` (a path, or a seekable binary file such as an upload's temporary
    file) against its witness ``record`` and the record's signature, offline.

    ``trusted_key`` (raw 32 bytes) is the service's public key as the caller got it (the
    well-known URL, a key file); without it the key the record carries is used, which
    proves the record unchanged since it was signed by *that* key only.
    """
    out = Verification()
    _check_signature(record, trusted_key, out)
    _check_fields(record, out)
    chunks = record.get("chunks")
    if isinstance(chunks, list) and all(isinstance(c, Mapping) for c in chunks):
        if isinstance(video, str | Path):
            _check_path(Path(video), record, chunks, out)
        else:
            _check_file(video, record, chunks, out)
    return out


def _check_signature(record: Mapping[str, Any], trusted: bytes | None, out: Verification) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = record.get("signature")
    if not isinstance(sig, Mapping) or sig.get("algorithm") != ALGORITHM:
        out.add("signature_missing", "the witness record has no Ed25519 signature")
        return
    try:
        carried = base64.b64decode(str(sig.get("public_key")), validate=True)
        value = base64.b64decode(str(sig.get("value")), validate=True)
    except ValueError:
        out.add("signature_not_base64", "the witness record's signature is not base64")
        return
    if trusted is not None and carried != trusted:
        out.add(
            "untrusted_key",
            f"the record was signed by key {key_id(carried)}, not by the trusted key "
            f"{key_id(trusted)}",
            signed_by=key_id(carried),
            trusted=key_id(trusted),
        )
        return
    try:
        Ed25519PublicKey.from_public_bytes(trusted or carried).verify(value, canonical(record))
    except (InvalidSignature, ValueError):
        out.add(
            "signature_mismatch",
            "the witness record's signature does not match its content: a field of the "
            "record was changed after the service signed it",
        )
        return
    out.key_id = key_id(trusted or carried)


def _check_fields(record: Mapping[str, Any], out: Verification) -> None:
    """The record's summary fields against its own chunk list (the signature already
    covers them; this says which one disagrees when a record was made inconsistent)."""
    chunks = record.get("chunks")
    if not isinstance(chunks, list) or not chunks:
        out.add("no_chunks", "the witness record lists no chunks")
        return
    if record.get("chunk_count") != len(chunks):
        out.add(
            "chunk_count_mismatch",
            f"chunk_count says {record.get('chunk_count')} but {len(chunks)} chunks are listed",
            said=record.get("chunk_count"),
            listed=len(chunks),
        )
    seqs = [c.get("seq") if isinstance(c, Mapping) else None for c in chunks]
    if seqs != list(range(len(chunks))):
        out.add("chunks_not_numbered", "the chunks are not numbered 0, 1, 2, ... without a gap")


# Bytes read at a time: the file is hashed as it streams, never held whole (a recording
# may be as large as the upload limit, 500 MB by default).
READ_BLOCK_BYTES = 1 << 20


def _hash_span(f: IO[bytes], size_bytes: int | None, whole: Any) -> str:
    """SHA-256 of the next ``size_bytes`` of ``f`` (None: to its end), fed to ``whole``
    too, read a block at a time."""
    h = hashlib.sha256()
    left = size_bytes
    while left is None or left > 0:
        block = f.read(READ_BLOCK_BYTES if left is None else min(left, READ_BLOCK_BYTES))
        if not block:
            break
        h.update(block)
        whole.update(block)
        if left is not None:
            left -= len(block)
    return h.hexdigest()


def _check_path(
    video: Path, record: Mapping[str, Any], chunks: list[Any], out: Verification
) -> None:
    try:
        f = open(video, "rb")  # noqa: SIM115 (closed below)
    except OSError as e:
        out.add("unreadable", f"cannot read {video.name}: {e.strerror}", name=video.name)
        return
    with f:
        _check_file(f, record, chunks, out)


def _check_file(
    f: IO[bytes], record: Mapping[str, Any], chunks: list[Any], out: Verification
) -> None:
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    sizes = [c.get("size_bytes") for c in chunks]
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
        out.add("bad_chunk_size", "a chunk's size_bytes is not a whole number")
        return
    expected = sum(sizes)
    if size != expected:
        out.add(
            "size_mismatch",
            f"the file has {size} bytes but the witnessed chunks add up to {expected}: "
            "a chunk was dropped or added, or bytes were cut or appended",
            size_bytes=size,
            expected_bytes=expected,
        )
    rid = str(record.get("recording_id") or "")
    chain = chain_seed(rid)
    whole = hashlib.sha256()
    mismatched: list[int] = []
    for c in chunks:
        got = _hash_span(f, c["size_bytes"], whole)
        if got != c.get("sha256"):
            mismatched.append(int(c["seq"]) if isinstance(c.get("seq"), int) else -1)
        chain = chain_next(chain, _hex64(c.get("sha256")))
    _hash_span(f, None, whole)  # whatever is past the last chunk counts in the file's hash
    if mismatched:
        more = " ..." if len(mismatched) > 10 else ""
        shown = ", ".join(str(s) for s in mismatched[:10]) + more
        out.add(
            "chunks_differ",
            f"the bytes of chunk(s) {shown} differ from what the service received "
            f"({len(mismatched)} of {len(chunks)} chunks)",
            chunks=shown,
            count=len(mismatched),
            of=len(chunks),
        )
    if chain.hex() != record.get("chain_sha256"):
        out.add(
            "chain_mismatch", "the chain of the listed chunk hashes does not end at chain_sha256"
        )
    if whole.hexdigest() != record.get("file_sha256"):
        out.add("file_hash_mismatch", "the file's SHA-256 differs from the witnessed file_sha256")
    if record.get("file_size_bytes") != size and size == expected:
        out.add("file_size_mismatch", "the file's size differs from the witnessed file_size_bytes")


def _hex64(value: Any) -> str:
    """A listed chunk hash as the chain takes it: 64 hex digits, or zeros for anything
    else (a forged record's junk then breaks the chain instead of crashing the check)."""
    text = str(value or "")
    if len(text) == 64 and all(ch in "0123456789abcdefABCDEF" for ch in text):
        return text
    return "0" * 64
