"""The witness record and the recording sessions' store, without a browser or a server:
the chain and the signature catch tampering, the store keeps each chunk's first arrival
and refuses what does not fit with a reason code."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from validator import witness
from validator.clock import Clock
from validator.jobs.recordings import (
    ChunkConflict,
    ChunkHashMismatch,
    ChunkOutOfRange,
    ChunksMissing,
    ChunkTooLarge,
    Limits,
    RecordingClosed,
    RecordingNotFound,
    Recordings,
    RecordingTooLarge,
    TooManyRecordings,
)
from validator.witness import Chunk

T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


class StepClock:
    """A clock the test moves: ``at`` seconds after T0."""

    def __init__(self) -> None:
        self.at = 0.0

    def clock(self) -> Clock:
        return Clock(now=lambda: T0 + timedelta(seconds=self.at), counter=lambda: self.at)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pieces(n: int = 5, size: int = 1000) -> list[bytes]:
    return [os.urandom(size - i) for i in range(n)]  # sizes differ: a drop is not a shift


def recorded(
    tmp_path: Path, parts: list[bytes], arrivals: list[float] | None = None
) -> tuple[Path, dict]:
    """A file of ``parts`` and its signed witness, as the service makes them."""
    key = witness.load_or_create_key(tmp_path)
    arrivals = arrivals or [1.0 + i for i in range(len(parts))]
    chunks = [
        Chunk(i, len(p), sha(p), T0 + timedelta(seconds=arrivals[i])) for i, p in enumerate(parts)
    ]
    video = tmp_path / "recording.webm"
    video.write_bytes(b"".join(parts))
    record = witness.build(
        recording_id="5f0c1a9e-0000-4000-8000-000000000001",
        created_at=T0,
        chunks=chunks,
        chunk_interval_s=1.0,
        file_sha256=sha(video.read_bytes()),
        file_size_bytes=video.stat().st_size,
    )
    return video, witness.sign(record, key)


# -- the record and its check ---------------------------------------------------------------


def test_an_untouched_recording_verifies(tmp_path: Path) -> None:
    video, record = recorded(tmp_path, pieces())
    result = witness.verify(video, record)
    assert result.ok, result.problems
    assert result.key_id == record["signature"]["key_id"]
    assert record["chunk_count"] == 5 and record["gaps"] == []
    # The chain is the documented one: seeded by the id, over the chunks' hashes in order.
    chain = witness.chain_seed(record["recording_id"])
    for c in record["chunks"]:
        chain = hashlib.sha256(chain + bytes.fromhex(c["sha256"])).digest()
    assert chain.hex() == record["chain_sha256"]


def test_one_changed_byte_is_named_by_its_chunk(tmp_path: Path) -> None:
    parts = pieces()
    video, record = recorded(tmp_path, parts)
    data = bytearray(video.read_bytes())
    at = len(parts[0]) + len(parts[1]) + 17  # inside chunk 2
    data[at] ^= 0x01
    video.write_bytes(bytes(data))
    result = witness.verify(video, record)
    assert not result.ok
    text = " ".join(result.problems)
    assert "chunk(s) 2 differ" in text and "file's SHA-256 differs" in text


def test_a_dropped_chunk_is_caught(tmp_path: Path) -> None:
    parts = pieces()
    video, record = recorded(tmp_path, parts)
    video.write_bytes(b"".join(parts[:2] + parts[3:]))  # chunk 2 left out
    result = witness.verify(video, record)
    assert not result.ok
    assert any("a chunk was dropped or added" in p for p in result.problems)


def test_a_chunk_dropped_from_the_record_too_breaks_the_signature(tmp_path: Path) -> None:
    parts = pieces()
    video, record = recorded(tmp_path, parts)
    video.write_bytes(b"".join(parts[:2] + parts[3:]))
    forged = dict(record)
    forged["chunks"] = [c for c in record["chunks"] if c["seq"] != 2]
    result = witness.verify(video, forged)
    assert any("signature does not match" in p for p in result.problems)
    assert any("numbered 0, 1, 2" in p for p in result.problems)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("first_chunk_at", "2026-11-19T07:00:01Z", id="earlier-start"),
        pytest.param("longest_gap_s", None, id="gap-hidden"),
        pytest.param("chunk_count", 4, id="count"),
        pytest.param("created_at", "2026-11-21T00:00:00Z", id="created"),
    ],
)
def test_a_changed_witness_field_breaks_the_signature(tmp_path: Path, field: str, value) -> None:
    video, record = recorded(tmp_path, pieces(), arrivals=[1, 2, 7, 8, 9])
    assert record["longest_gap_s"] == 5.0
    changed = {**record, field: value}
    assert changed != record
    result = witness.verify(video, changed)
    assert not result.ok
    assert any("a field of the record was changed" in p for p in result.problems)


def test_a_trusted_key_must_be_the_signer(tmp_path: Path) -> None:
    video, record = recorded(tmp_path, pieces())
    (tmp_path / "other").mkdir()
    other = witness.load_or_create_key(tmp_path / "other")
    result = witness.verify(video, record, witness.public_key_bytes(other))
    assert not result.ok and "not by the trusted key" in result.problems[0]
    own = witness.read_public_key(json.dumps(witness.public_key_document(
        witness.load_or_create_key(tmp_path))))  # fmt: skip
    assert witness.verify(video, record, own).ok


def test_chunks_larger_than_a_read_block_are_hashed_as_they_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is read a block at a time (never whole): chunks spanning several blocks
    verify, and a byte changed in a chunk's later block is named by that chunk."""
    monkeypatch.setattr(witness, "READ_BLOCK_BYTES", 64)
    parts = pieces(4, 1000)  # ~16 blocks a chunk
    video, record = recorded(tmp_path, parts)
    assert witness.verify(video, record).ok
    with open(video, "rb") as f:  # an open file (an upload's temporary file) as well
        f.read(10)
        assert witness.verify(f, record).ok
    data = bytearray(video.read_bytes())
    data[len(parts[0]) + 900] ^= 0x80  # chunk 1, its 15th block
    video.write_bytes(bytes(data))
    result = witness.verify(video, record)
    codes = [p.code for p in result.found]
    assert codes == ["chunks_differ", "file_hash_mismatch"]
    assert result.found[0].details["chunks"] == "1"


def test_bytes_appended_after_the_last_chunk_are_caught(tmp_path: Path) -> None:
    video, record = recorded(tmp_path, pieces())
    with open(video, "ab") as f:
        f.write(b"extra")
    codes = {p.code for p in witness.verify(video, record).found}
    assert {"size_mismatch", "file_hash_mismatch"} <= codes


def test_junk_chunk_hashes_in_a_record_are_problems_not_crashes(tmp_path: Path) -> None:
    video, record = recorded(tmp_path, pieces())
    forged = {**record, "chunks": [{**c, "sha256": "zz"} for c in record["chunks"]]}
    codes = {p.code for p in witness.verify(video, forged).found}
    assert {"signature_mismatch", "chunks_differ", "chain_mismatch"} <= codes


def test_the_witness_is_found_in_each_document_verify_is_given(tmp_path: Path) -> None:
    _, record = recorded(tmp_path, pieces())
    for doc in (record, {"witness": record}, {"report": {"witness": record}},
                {"videos": [{"report": {}}, {"report": {"witness": record}}]}):  # fmt: skip
        assert witness.find_witness(doc) == record
    for doc in ({"verdict": "pass"}, [], "x", {"videos": "x"}, {"report": None}):
        assert witness.find_witness(doc) is None


def test_the_key_is_made_once_and_private(tmp_path: Path) -> None:
    a = witness.load_or_create_key(tmp_path)
    b = witness.load_or_create_key(tmp_path)
    assert witness.public_key_bytes(a) == witness.public_key_bytes(b)
    mode = stat.S_IMODE((tmp_path / witness.KEY_FILE).stat().st_mode)
    assert mode == 0o600


def test_gaps_are_pauses_longer_than_two_intervals() -> None:
    chunks = [Chunk(i, 1, "0" * 64, T0 + timedelta(seconds=s)) for i, s in
              enumerate([1.0, 2.1, 3.0, 6.5, 6.6, 6.7, 7.5])]  # fmt: skip
    found = witness.gaps(chunks, 1.0)
    assert [(g["after_seq"], g["length_s"]) for g in found] == [(2, 3.5)]


# -- the store ------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> tuple[Recordings, StepClock]:
    clock = StepClock()
    limits = Limits(chunk_interval_s=1.0, max_chunks=10, max_chunk_bytes=4096,
                    max_total_bytes=20_000)  # fmt: skip
    return Recordings(tmp_path / "recordings", limits, clock.clock()), clock


def joined(recs: Recordings, rec_id: str) -> tuple[list[Chunk], bytes]:
    out: dict = {}

    def assemble(session, chunks, fileobj) -> str:
        out["chunks"] = chunks
        out["data"] = b"".join(iter(lambda: fileobj.read(7), b""))
        return "check-1"

    session = recs.stop(rec_id, assemble)
    assert session.state == "stopped" and session.check_id == "check-1"
    return out["chunks"], out["data"]


def test_chunks_keep_their_first_arrival_and_join_in_order(store) -> None:
    recs, clock = store
    session, _ = recs.create(tenant_id=1)
    parts = pieces(4, 900)
    for seq in (0, 2, 1, 3):  # 1 came late (a dropped connection, resent)
        clock.at += 1
        assert not recs.put_chunk(session.id, seq, parts[seq], sha(parts[seq])).duplicate
    clock.at += 5
    again = recs.put_chunk(session.id, 1, parts[1], sha(parts[1]))
    assert again.duplicate and again.chunk.received_at == T0 + timedelta(seconds=3)
    chunks, data = joined(recs, session.id)
    assert data == b"".join(parts)
    assert [c.seq for c in chunks] == [0, 1, 2, 3]
    assert [c.received_at for c in chunks] == [T0 + timedelta(seconds=s) for s in (1, 3, 2, 4)]


@pytest.mark.parametrize(
    ("seq", "data", "digest", "error"),
    [
        pytest.param(10, b"x", None, ChunkOutOfRange, id="past-max-chunks"),
        pytest.param(-1, b"x", None, ChunkOutOfRange, id="negative"),
        pytest.param(0, b"x", "0" * 64, ChunkHashMismatch, id="wrong-hash"),
        pytest.param(0, b"x", "not-hex", ChunkHashMismatch, id="no-hash"),
        pytest.param(0, b"x" * 4097, None, ChunkTooLarge, id="too-large"),
    ],
)
def test_a_chunk_that_does_not_fit_is_refused_with_its_reason(store, seq, data, digest, error):
    recs, _ = store
    session, _ = recs.create(tenant_id=1)
    with pytest.raises(error) as info:
        recs.put_chunk(session.id, seq, data, digest or sha(data))
    assert info.value.code and info.value.http_status >= 400 and info.value.message
    assert recs.chunks(session.id) == []


def test_a_chunk_is_never_replaced(store) -> None:
    recs, _ = store
    session, _ = recs.create(tenant_id=1)
    recs.put_chunk(session.id, 0, b"first", sha(b"first"))
    with pytest.raises(ChunkConflict):
        recs.put_chunk(session.id, 0, b"other", sha(b"other"))


def test_the_total_is_bounded(store) -> None:
    recs, _ = store
    session, _ = recs.create(tenant_id=1)
    block = b"y" * 4000
    for seq in range(5):
        recs.put_chunk(session.id, seq, block, sha(block))
    with pytest.raises(RecordingTooLarge):
        recs.put_chunk(session.id, 5, block, sha(block))


def test_stop_waits_for_missing_chunks_then_closes(store) -> None:
    recs, _ = store
    session, _ = recs.create(tenant_id=1)
    for seq in (0, 2):
        recs.put_chunk(session.id, seq, b"c%d" % seq, sha(b"c%d" % seq))
    with pytest.raises(ChunksMissing) as info:
        recs.stop(session.id, lambda *a: "never")
    assert info.value.details["missing"] == [1]
    recs.put_chunk(session.id, 1, b"c1", sha(b"c1"))
    _, data = joined(recs, session.id)
    assert data == b"c0c1c2"
    with pytest.raises(RecordingClosed):
        recs.put_chunk(session.id, 3, b"late", sha(b"late"))
    # A second stop is the first one's answer (the page retries after a lost reply).
    assert recs.stop(session.id, lambda *a: "never").check_id == "check-1"


def test_a_wrong_token_looks_like_no_session(store) -> None:
    recs, _ = store
    session, token = recs.create(tenant_id=1)
    assert recs.authorized(session.id, token).id == session.id
    for bad in (None, "", token + "x"):
        with pytest.raises(RecordingNotFound):
            recs.authorized(session.id, bad)
    with pytest.raises(RecordingNotFound):
        recs.get("../../etc")


def test_open_sessions_are_bounded_and_abandoned_ones_removed(tmp_path: Path) -> None:
    clock = StepClock()
    recs = Recordings(tmp_path / "r", Limits(max_open=2, abandoned_after_s=3600), clock.clock())
    a, _ = recs.create(tenant_id=1)
    b, _ = recs.create(tenant_id=1)
    recs.create(tenant_id=2)  # another tenant's count is its own
    with pytest.raises(TooManyRecordings):
        recs.create(tenant_id=1)
    # The form's tenant counts per browser session.
    recs.create(tenant_id=3, web_session="s1")
    recs.create(tenant_id=3, web_session="s1")
    recs.create(tenant_id=3, web_session="s2")
    # Recording keeps a session alive; an untouched one lapses after an hour.
    clock.at = 3000
    recs.put_chunk(a.id, 0, b"x", sha(b"x"))
    clock.at = 3700
    recs.create(tenant_id=1)
    assert recs.get(a.id).state == "recording"
    with pytest.raises(RecordingNotFound):
        recs.get(b.id)


# -- appeal-validator verify ----------------------------------------------------------------


def run_verify(capsys, *args: str) -> tuple[int, str]:
    from validator.cli import main

    code = main(["verify", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param("byte", "chunk(s) 1 differ", id="one-changed-byte"),
        pytest.param("drop", "a chunk was dropped or added", id="dropped-chunk"),
        pytest.param("field", "a field of the record was changed", id="changed-field"),
    ],
)
def test_verify_names_the_tampering(tmp_path: Path, capsys, tamper: str, message: str) -> None:
    parts = pieces()
    video, record = recorded(tmp_path, parts)
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"verdict": "pass", "witness": record}), "utf-8")
    code, text = run_verify(capsys, str(video), str(report))
    assert code == 0 and text.startswith("OK:"), text
    if tamper == "byte":
        data = bytearray(video.read_bytes())
        data[len(parts[0]) + 5] ^= 0x40
        video.write_bytes(bytes(data))
    elif tamper == "drop":
        video.write_bytes(b"".join(parts[:1] + parts[2:]))
    else:
        report.write_text(json.dumps({"witness": {**record, "chunk_interval_s": 5.0}}), "utf-8")
    code, text = run_verify(capsys, str(video), str(report))
    assert code == 1 and "MISMATCH" in text and message in text, text


def test_verify_exit_codes_for_usage_and_input(tmp_path: Path, capsys) -> None:
    video, record = recorded(tmp_path, pieces())
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"videos": [{"witness": record}]}), "utf-8")  # a case report
    assert run_verify(capsys, str(video), str(report))[0] == 0
    assert run_verify(capsys, str(tmp_path / "gone.webm"), str(report))[0] == 4
    code, text = run_verify(capsys, str(video), str(tmp_path / "none.json"))
    assert code == 2 and "cannot read the report" in text
    report.write_text(json.dumps({"verdict": "pass"}), "utf-8")
    code, text = run_verify(capsys, str(video), str(report))
    assert code == 2 and "no witness record" in text
    (tmp_path / "key.txt").write_text("not a key")
    report.write_text(json.dumps({"witness": record}), "utf-8")
    code, text = run_verify(capsys, str(video), str(report), "--key", str(tmp_path / "key.txt"))
    assert code == 2 and "not an Ed25519 public key" in text
