"""Recording sessions through the service: the API opens one, chunks arrive on the
server's (test-driven) clock, the stop joins them, the real check runs with the witness,
the webhook goes out, and ``appeal-validator verify`` accepts the file and refuses a
changed one. The browser side is tests/e2e/test_record_e2e.py.

The recording is a WebM made the way Chromium's MediaRecorder writes one: VP8 streamed to
a pipe, so it has no duration and no cues (a file written while recording cannot seek
back); probe, sniff and the decoder must take it as it is.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from _service import app_config, worker
from flask import Flask
from test_web_webhooks import Receiver
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from validator.clock import Clock
from validator.report.build import schema
from validator.web import create_app

T0 = datetime(2026, 10, 20, 6, 40, tzinfo=UTC)  # 14:40 in Shanghai, 40 min after sign-for


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The clean fixture clip as a MediaRecorder-like WebM (VP8, streamed: no duration)."""
    import imageio_ffmpeg

    from fixtures.generate import build, default_cache

    src, truth = build("clean", default_cache())
    out = tmp_path_factory.mktemp("webm") / "recording.webm"
    with open(out, "wb") as f:
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-an",
             # Chromium's realtime mode, at a fixed speed (negative cpu-used) on one
             # thread: a positive one adapts to the machine's load, and the file with it.
             "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "-8", "-threads", "1",
             "-b:v", "1500k",
             "-f", "webm", "pipe:1"],
            stdout=f, check=True,
        )  # fmt: skip
    return out, truth


def test_a_streamed_webm_is_sniffed_probed_and_decoded(webm) -> None:
    from validator.media.probe import probe
    from validator.media.sniff import media_type
    from validator.media.source import VideoSource
    from validator.policy import load_policy

    path, truth = webm
    assert media_type(path.read_bytes()[:512]) == "video/webm"
    info = probe(path, load_policy(None))
    assert info.codec == "vp8" and info.recorded_at is None  # no tags: nothing to trust
    # No duration in the header: the packets' timeline gives it, the fixture's length.
    assert info.duration_s == pytest.approx(truth["duration_s"], abs=0.1)
    with VideoSource(path, stream_index=info.video_stream_index) as source:
        frames = sum(1 for _ in source)
    assert frames == truth["frame_count"]


class Clock1:
    """The web process's clock, moved by the test."""

    def __init__(self) -> None:
        self.at = 0.0

    def clock(self) -> Clock:
        return Clock(now=lambda: T0 + timedelta(seconds=self.at), counter=lambda: self.at)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Flask, Clock1]]:
    clock = Clock1()
    app = create_app(app_config(tmp_path / "data", CLOCK=clock.clock()))
    try:
        with worker(app):
            yield app, clock
    finally:
        app.extensions["appeal"].close()


def split(data: bytes, n: int) -> list[bytes]:
    step = -(-len(data) // n)
    return [data[i : i + step] for i in range(0, len(data), step)]


def send(client, rec_id: str, token: str, seq: int, part: bytes, digest: str | None = None):
    return client.put(
        f"/record/{rec_id}/chunks/{seq}",
        data=part,
        headers={"X-Recording-Token": token,
                 "X-Chunk-SHA256": digest or hashlib.sha256(part).hexdigest()},
    )  # fmt: skip


def wait_done(client, headers: dict, check_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/checks/{check_id}", headers=headers).json
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"check {check_id} still {body['status']}")


def verify_cli(video: Path, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validator", "verify", str(video), str(report), *extra],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_recording_is_witnessed_checked_delivered_and_verifiable(
    service, webm, tmp_path: Path
) -> None:
    app, clock = service
    path, truth = webm
    receiver = Receiver([])
    try:
        _, key = app.extensions["appeal"].store.create_key("acme")
        h = {"Authorization": f"Bearer {key}"}
        client = app.test_client()
        case = {"return": truth["case"]["return"]}
        resp = client.post("/api/v1/recordings", headers=h,
                           json={"case": case, "callback_url": receiver.url})  # fmt: skip
        assert resp.status_code == 201, resp.get_data(as_text=True)
        rec = resp.json
        link = rec["links"]["record"]
        assert f"/record/{rec['id']}#token=" in link and rec["state"] == "recording"
        token = link.split("#token=", 1)[1]
        # The page link opens; another tenant cannot see the session.
        assert client.get(f"/record/{rec['id']}").status_code == 200
        _, other = app.extensions["appeal"].store.create_key("other")
        got = client.get(rec["links"]["self"], headers={"Authorization": f"Bearer {other}"})
        assert got.status_code == 404 and got.json["error"]["code"] == "recording_not_found"

        parts = split(path.read_bytes(), 20)
        # One chunk a second; chunk 7 is lost to a dropped connection and comes back
        # with chunks 8-10 three seconds late (the page's queue).
        held = []
        for seq, part in enumerate(parts):
            clock.at = 1.0 + seq
            if seq in (7, 8, 9):
                held.append(seq)
                continue
            if seq == 10:
                for late in held:
                    assert send(client, rec["id"], token, late, parts[late]).status_code == 201
            assert send(client, rec["id"], token, seq, part).status_code == 201
        # A resend is idempotent, a wrong hash or a wrong token is refused with a reason.
        again = send(client, rec["id"], token, 3, parts[3])
        assert again.status_code == 200 and again.json["duplicate"]
        bad = send(client, rec["id"], token, 3, parts[3], "0" * 64)
        assert bad.status_code == 422 and bad.json["error"]["code"] == "chunk_hash_mismatch"
        assert send(client, rec["id"], "wrong", 4, parts[4]).status_code == 404
        far = send(client, rec["id"], token, 10**6, b"x")
        assert far.status_code == 400 and far.json["error"]["code"] == "chunk_out_of_range"

        clock.at = 1.0 + len(parts)
        stop = client.post(f"/record/{rec['id']}/stop", headers={"X-Recording-Token": token})
        assert stop.status_code == 202, stop.get_data(as_text=True)
        check_id = stop.json["check_id"]
        late = send(client, rec["id"], token, len(parts), b"late")
        assert late.status_code == 409 and late.json["error"]["code"] == "recording_closed"

        done = wait_done(client, h, check_id)
        assert done["status"] == "done", done.get("error")
        report = done["report"]
        jsonschema.validate(report, schema())
        w = report["witness"]
        assert w["chunk_count"] == len(parts) and w["recording_id"] == rec["id"]
        assert w["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert w["first_chunk_at"] == "2026-10-20T06:40:01Z"
        # The drop shows: the arrival paused from chunk 6 (7 s) to the burst (11 s).
        assert [(g["after_seq"], g["length_s"]) for g in w["gaps"]] == [(6, 4.0)]
        # Timeliness on the server's clock: the file has no time of its own.
        assert report["media"]["recorded_at_source"] == "witness"
        tl = {r["code"] for r in report["requirements"]["timeliness"]["reasons"]}
        assert "recorded_in_window" in tl
        comp = {r["code"] for r in report["requirements"]["completeness"]["reasons"]}
        assert "witnessed_with_delay" in comp
        want = truth["expected"]["completeness"]
        assert report["requirements"]["completeness"]["verdict"] == want
        # The session shows its check; the ticket system got the webhook.
        seen = client.get(rec["links"]["self"], headers=h).json
        assert seen["state"] == "stopped" and seen["check"]["id"] == check_id
        assert seen["chunks_received"] == len(parts) and seen["links"]["check"]
        deadline = time.monotonic() + 30
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.calls, "no webhook for the recording's check"
        event = json.loads(receiver.calls[0]["body"])
        assert event["type"] == "check.done" and event["data"]["check"]["id"] == check_id
    finally:
        receiver.close()

    # Offline: the file verifies against its report, with the served key too.
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps(report), "utf-8")
    key_file = tmp_path / "witness-key.json"
    key_file.write_text(
        client.get("/.well-known/appeal-validator-witness-key").get_data(as_text=True)
    )
    ok = verify_cli(path, report_file, "--key", str(key_file))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK:" in ok.stdout
    changed = tmp_path / "changed.webm"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    changed.write_bytes(bytes(data))
    bad = verify_cli(changed, report_file)
    assert bad.returncode == 1 and "differ from what the service received" in bad.stdout
    forged = dict(report, witness={**report["witness"], "first_chunk_at": "2026-10-20T06:00:01Z"})
    report_file.write_text(json.dumps(forged), "utf-8")
    assert verify_cli(path, report_file).returncode == 1
    # Usage (2) and input (4) errors per the project's exit codes.
    assert verify_cli(tmp_path / "none.webm", report_file).returncode == 4
    report_file.write_text(json.dumps({"verdict": "pass"}), "utf-8")
    assert verify_cli(path, report_file).returncode == 2


def test_stop_names_the_missing_chunks(service) -> None:
    app, _ = service
    client = app.test_client()
    _, key = app.extensions["appeal"].store.create_key("acme")
    resp = client.post("/api/v1/recordings", headers={"Authorization": f"Bearer {key}"}, json={})
    rec = resp.json
    token = rec["links"]["record"].split("#token=", 1)[1]
    for seq in (0, 2):
        assert send(client, rec["id"], token, seq, b"chunk %d" % seq).status_code == 201
    stop = client.post(f"/record/{rec['id']}/stop", headers={"X-Recording-Token": token})
    assert stop.status_code == 409
    assert stop.json["error"]["code"] == "chunks_missing"
    assert stop.json["error"]["details"]["missing"] == [1]


def test_the_public_key_is_served_and_stable(service) -> None:
    app, _ = service
    client = app.test_client()
    a = client.get("/.well-known/appeal-validator-witness-key").json
    b = client.get("/.well-known/appeal-validator-witness-key").json
    assert a == b and a["algorithm"] == "Ed25519" and "BEGIN PUBLIC KEY" in a["pem"]
    data_dir = Path(app.config["DATA_DIR"])
    assert (data_dir / "witness_key.pem").stat().st_mode & 0o777 == 0o600


CHUNK_EVERY_S = 0.5  # a chunk of the 19.3 s clip (a twentieth, ~0.97 s of video) this often


@pytest.mark.alone  # the lag bound holds with one recording on the machine
def test_live_guidance_follows_the_chunks_as_they_land(webm, tmp_path: Path) -> None:
    """The chunks' files, written one each half second (about twice as fast as a camera):
    the decoder follows them, its state reaches the whole take's, and it keeps up: the
    last frame is analysed well within the 2 s the page may lag the camera. (At 4x it
    kept up on one machine of this kind and fell 3-4.5 s behind on a slower one: the
    analysis needs about 0.35 of a core a second of 480p video.)"""
    import threading

    from validator.live import ChunkStream, LiveAnalysis, run_live

    path, truth = webm
    folder = tmp_path / "chunks"
    folder.mkdir()
    done = threading.Event()
    stop = threading.Event()
    live = LiveAnalysis(tracking_number=truth["case"]["return"]["tracking_number"])
    stream = ChunkStream(folder, done.is_set, poll_s=0.01)
    worker_thread = threading.Thread(target=run_live, args=(stream, live, stop))
    worker_thread.start()
    parts = split(path.read_bytes(), 20)
    lags = []
    for seq, part in enumerate(parts):
        (folder / f"{seq:06d}").write_bytes(part)
        (folder / f"{seq:06d}.json").write_text("{}")
        written = time.monotonic()
        time.sleep(CHUNK_EVERY_S)
        lags.append((seq, written, live.state()["elapsed_s"]))
    done.set()
    worker_thread.join(30)
    assert not worker_thread.is_alive()
    end = live.state()
    assert end["frames"] == truth["frame_count"]
    assert end["faces_shown"] == 6 and end["label_matched"] is True and end["can_stop"]
    # Keeping up: CHUNK_EVERY_S after each chunk landed, the analysis had reached
    # into it (the chunks are even slices of the file: chunk k ends near (k+1)/20 of it).
    share = [(elapsed / truth["duration_s"]) - (seq + 1) / len(parts) for seq, _, elapsed in lags]
    behind_s = -min(share) * truth["duration_s"]
    assert behind_s < 2.0, behind_s


def witnessed_fake(path: str, *, witness: dict | None = None, **kw):
    """``_service.fake_analysis`` that, like the real one, carries the recording's
    witness into its report (the worker passes it only to a recording's check)."""
    from _service import fake_analysis

    report = fake_analysis(path, **kw)
    if witness is not None:
        report["witness"] = witness
    return report


def record_through(client, headers: dict, body: dict, data: bytes, clock: Clock1) -> str:
    """Opens a recording through the API, sends ``data`` in five chunks a second apart,
    stops it; returns its id."""
    resp = client.post("/api/v1/recordings", headers=headers, json=body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    rec = resp.json
    token = rec["links"]["record"].split("#token=", 1)[1]
    for seq, part in enumerate(split(data, 5)):
        clock.at += 1.0
        assert send(client, rec["id"], token, seq, part).status_code == 201
    stop = client.post(f"/record/{rec['id']}/stop", headers={"X-Recording-Token": token})
    assert stop.status_code == 202, stop.get_data(as_text=True)
    return rec["id"]


def test_ticket_systems_get_the_webhook_when_a_recordings_check_is_done(
    webm, tmp_path: Path
) -> None:
    """The ticket system that opened a recording with ``POST /api/v1/recordings`` is told
    when its check is done: at the request's ``callback_url``, else at its key's; signed
    with the key's secret; the event names the recording (its witness), and that witness
    alone verifies the file (the ticket system needs nothing else)."""
    from test_web_webhooks import SIGNATURE_HEADER
    from test_web_webhooks import verify as verify_signature

    from validator import witness

    path, _ = webm
    data = path.read_bytes()
    clock = Clock1()
    app = create_app(app_config(tmp_path / "data", CLOCK=clock.clock(),
                                ANALYSIS_TARGET="test_recordings_web:witnessed_fake"))  # fmt: skip
    keyed, asked = Receiver([]), Receiver([])
    try:
        with worker(app):
            store = app.extensions["appeal"].store
            row, key = store.create_key("acme", callback_url=keyed.url)
            h = {"Authorization": f"Bearer {key}"}
            client = app.test_client()
            by_key = record_through(client, h, {}, data, clock)
            by_request = record_through(client, h, {"callback_url": asked.url}, data, clock)
            deadline = time.monotonic() + 60
            while (not keyed.calls or not asked.calls) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # a second, wrong delivery would have come by now
            sessions = {r: client.get(f"/api/v1/recordings/{r}", headers=h).json
                        for r in (by_key, by_request)}  # fmt: skip
            # The same bytes uploaded afterwards were not witnessed then: that check
            # does not take a recording's report (nor a recording an upload's).
            # Encoded here, in memory: the test client spools a large body to a file
            # it leaves open (tests/test_web_api.py's upload).
            boundary, body = encode_multipart(
                {"video": FileStorage(io.BytesIO(data), "again.webm"), "callback_url": asked.url}
            )
            up = client.post("/api/v1/checks", headers=h, data=body,
                             content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
            assert up.status_code == 202, up.get_data(as_text=True)
            uploaded = wait_done(client, h, up.json["id"])
            while len(asked.calls) < 2 and time.monotonic() < deadline + 30:
                time.sleep(0.1)
            time.sleep(0.5)  # a third, wrong delivery would have come by now
    finally:
        keyed.close()
        asked.close()
        app.extensions["appeal"].close()
    assert uploaded["status"] == "done" and "witness" not in uploaded["report"]
    assert uploaded["reused_from"] is None
    assert len(asked.calls) == 2  # the recording's and the upload's
    assert len(keyed.calls) == 1, "one webhook per recording"
    by_check = {json.loads(c["body"])["data"]["check"]["id"]: c for c in asked.calls}
    asked_call = by_check[sessions[by_request]["check_id"]]
    for rec_id, call in ((by_key, keyed.calls[0]), (by_request, asked_call)):
        assert verify_signature(row.webhook_secret, call["headers"][SIGNATURE_HEADER],
                                call["body"])  # fmt: skip
        event = json.loads(call["body"])
        check = event["data"]["check"]
        assert event["type"] == "check.done" and check["status"] == "done"
        assert check["id"] == sessions[rec_id]["check_id"]  # the session names its check
        assert check["report"]["witness"]["recording_id"] == rec_id
        assert witness.verify(path, check["report"]["witness"]).ok
