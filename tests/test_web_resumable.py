"""The form's resumable uploads (tus core: POST creates, HEAD tells the offset, PATCH
appends at it) and several videos in one case, through Flask's test client."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tempfile
import time
from pathlib import Path

from _service import app_config
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_web_form import wait_done

from validator.jobs.partial import CutShort, OffsetMismatch, PartialUploads
from validator.web import create_app

MP4 = b"\0\0\0\x18ftypmp42" + bytes(range(256)) * 40  # 10 KiB that sniff as MP4
XHR = {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"}
CHUNK_TYPE = "application/offset+octet-stream"


def token(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def create(client: FlaskClient, csrf: str, length: int, name: str = "原片.mp4"):
    meta = "filename " + base64.b64encode(name.encode()).decode()
    headers = {"Upload-Length": str(length), "Upload-Metadata": meta, "X-CSRF-Token": csrf}
    return client.post("/uploads", headers={**XHR, **headers})


def patch(client: FlaskClient, csrf: str, url: str, offset: int, body: bytes, **kw):
    headers = {"Upload-Offset": str(offset), "Content-Type": CHUNK_TYPE, "X-CSRF-Token": csrf}
    return client.patch(url, data=body, headers={**XHR, **headers}, **kw)


def offset_of(client: FlaskClient, url: str) -> int:
    resp = client.head(url)
    assert resp.status_code == 204, resp.status_code
    assert resp.headers["Cache-Control"] == "no-store"
    return int(resp.headers["Upload-Offset"])


def upload(client: FlaskClient, csrf: str, content: bytes, chunk: int = 4096, name="a.mp4"):
    resp = create(client, csrf, len(content), name)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    url = resp.headers["Location"]
    for start in range(0, len(content), chunk):
        r = patch(client, csrf, url, start, content[start : start + chunk])
        assert r.status_code == 204, r.get_data(as_text=True)
    return resp.json["id"], url


def make_check(client: FlaskClient, csrf: str, ids: list[str], **fields) -> dict:
    data = {"upload": ids, **fields}
    resp = client.post("/checks", data=data, headers={**XHR, "X-CSRF-Token": csrf})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json


def test_create_append_and_check(app: Flask, client: FlaskClient) -> None:
    csrf = token(client)
    resp = create(client, csrf, len(MP4))
    assert resp.status_code == 201
    assert resp.headers["Upload-Offset"] == "0" and resp.json["offset"] == 0
    assert resp.headers["Location"] == resp.json["url"]
    assert resp.json["chunk_bytes"] <= resp.json["max_chunk_bytes"]
    url = resp.headers["Location"]
    sent = 0
    for size in (1000, 3000, len(MP4) - 4000):
        r = patch(client, csrf, url, sent, MP4[sent : sent + size])
        sent += size
        assert r.status_code == 204 and int(r.headers["Upload-Offset"]) == sent
        assert offset_of(client, url) == sent
    new = make_check(client, csrf, [resp.json["id"]])
    assert wait_done(client, new["id"])["status"] == "done"
    row = app.extensions["appeal"].store.get(new["id"])
    assert row.sha256 == hashlib.sha256(MP4).hexdigest() and row.size_bytes == len(MP4)
    assert row.filename == "原片.mp4"  # from tus's Upload-Metadata
    # The upload became the check: its id is spent and its folder gone.
    assert client.head(url).status_code == 404
    assert not any((app.extensions["appeal"].settings.data_dir / "uploads").rglob("data"))


def test_offset_mismatch_is_409_with_the_servers_offset(client: FlaskClient) -> None:
    csrf = token(client)
    url = create(client, csrf, len(MP4)).headers["Location"]
    assert patch(client, csrf, url, 0, MP4[:2048]).status_code == 204
    for wrong in (0, 1024, 4096):  # a chunk sent again, one from behind, one from ahead
        r = patch(client, csrf, url, wrong, MP4[wrong : wrong + 512])
        assert r.status_code == 409, wrong
        assert r.json["error"]["code"] == "upload_conflict"
        assert r.headers["Upload-Offset"] == "2048" and r.json["error"]["details"]["offset"] == 2048
    assert offset_of(client, url) == 2048  # nothing was written by the refused ones


def test_a_dropped_connection_resumes_from_the_servers_offset(
    app: Flask, client: FlaskClient
) -> None:
    """A chunk cut short (the body ends before its Content-Length: the phone lost the
    network) keeps what arrived; the client asks the offset and goes on from there."""
    csrf = token(client)
    url = create(client, csrf, len(MP4)).headers["Location"]
    assert patch(client, csrf, url, 0, MP4[:2000]).status_code == 204
    # Content-Length says 6000; only 2500 bytes come before the connection drops.
    headers = {"Upload-Offset": "2000", "Content-Type": CHUNK_TYPE, "X-CSRF-Token": csrf, **XHR}
    r = client.patch(url, input_stream=io.BytesIO(MP4[2000:4500]), headers=headers,
                     environ_overrides={"CONTENT_LENGTH": "6000"})  # fmt: skip
    assert r.status_code == 400  # the request failed, as the client saw
    assert r.json["error"]["details"]["offset"] == 4500
    resumed_at = offset_of(client, url)
    assert resumed_at == 4500  # what arrived is kept, not thrown away
    assert patch(client, csrf, url, resumed_at, MP4[resumed_at:]).status_code == 204
    new = make_check(client, csrf, [url.rsplit("/", 1)[-1]])
    assert wait_done(client, new["id"])["status"] == "done"
    row = app.extensions["appeal"].store.get(new["id"])
    assert row.sha256 == hashlib.sha256(MP4).hexdigest()


def test_limits(tmp_path: Path) -> None:
    cfg = app_config(tmp_path / "data", MAX_UPLOAD_MB=1, UPLOAD_CHUNK_MB=1, UPLOAD_MAX_OPEN=2)
    app = create_app(cfg)
    try:
        client = app.test_client()
        csrf = token(client)
        too_big = create(client, csrf, (1 << 20) + 1)
        assert too_big.status_code == 413 and too_big.json["error"]["code"] == "payload_too_large"
        assert too_big.json["error"]["details"]["max_bytes"] == 1 << 20
        url = create(client, csrf, 1 << 20).headers["Location"]
        r = patch(client, csrf, url, 0, b"\0" * ((1 << 20) + 1))  # a chunk over the limit
        assert r.status_code == 413 and offset_of(client, url) == 0
        small = create(client, csrf, 100).headers["Location"]
        r = patch(client, csrf, small, 0, b"\0" * 101)  # past the declared length
        assert r.status_code == 413 and offset_of(client, small) == 0
        third = create(client, csrf, 100)  # two are open
        assert third.status_code == 429 and third.json["error"]["details"]["max_open"] == 2
        assert client.delete(small, headers={"X-CSRF-Token": csrf}).status_code == 204
        assert create(client, csrf, 100).status_code == 201  # room again
        # Without the token nothing is written (checked before the body is read).
        r = client.patch(url, data=b"x", headers={"Upload-Offset": "0", "Content-Type": CHUNK_TYPE})
        assert r.status_code == 400 and offset_of(client, url) == 0
        r = patch(client, csrf, url, 0, b"x", content_type="application/octet-stream")
        assert r.status_code in (400, 415)
    finally:
        app.extensions["appeal"].close()


def test_another_session_cannot_see_or_append(app: Flask, client: FlaskClient) -> None:
    url = create(client, token(client), 100).headers["Location"]
    other = app.test_client()
    other_csrf = token(other)
    assert other.head(url).status_code == 404
    assert patch(other, other_csrf, url, 0, b"x" * 10).status_code == 404
    assert offset_of(client, url) == 0


def test_abandoned_uploads_expire_and_are_swept(app: Flask, client: FlaskClient) -> None:
    from validator.jobs.store import Store
    from validator.jobs.tasks import sweep_orphans

    svc = app.extensions["appeal"]
    csrf = token(client)
    url = create(client, csrf, len(MP4)).headers["Location"]
    assert patch(client, csrf, url, 0, MP4[:1000]).status_code == 204
    root = svc.settings.data_dir / "uploads"
    assert len(list(root.rglob("data"))) == 1
    later = time.time() + svc.settings.upload_expiry_s + 1
    svc.partial_uploads.clock = lambda: later  # a day passes untouched
    assert client.head(url).status_code == 404
    assert patch(client, csrf, url, 1000, MP4[1000:2000]).status_code == 404
    # The workers' hourly sweep removes it (it runs in its own process, on real time:
    # its uploads folder is set back a day instead).
    for p in root.rglob("meta.json"):
        meta = json.loads(p.read_text())
        meta["updated_at"] -= svc.settings.upload_expiry_s + 1
        p.write_text(json.dumps(meta))
    store = Store(svc.settings.database_url)
    try:
        assert sweep_orphans(store, svc.settings) == 1
    finally:
        store.close()
    assert not list(root.rglob("data"))


def test_several_videos_in_one_case(app: Flask, client: FlaskClient) -> None:
    """The form's case of several videos: each is stored and checked, the case report
    (report.json) covers each, and the report page lists them with their verdicts."""
    csrf = token(client)
    second = MP4[:5000] + b"another take"
    first_id, _ = upload(client, csrf, MP4, name="开箱.mp4")
    second_id, _ = upload(client, csrf, second, name="细节.mp4")
    new = make_check(client, csrf, [first_id, second_id], tracking_number="SF1234567890123")
    assert wait_done(client, new["id"])["status"] == "done"
    svc = app.extensions["appeal"]
    row = svc.store.get(new["id"])
    assert row.sha256 == hashlib.sha256(MP4).hexdigest()  # the first video is the check's
    tenant = str(row.tenant_id)
    videos = svc.storage.video_paths(tenant, row.id)
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in videos] == [
        hashlib.sha256(MP4).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    ]
    case = json.loads((svc.storage.derived_dir(tenant, row.id) / "report.json").read_text())
    assert [v["file"]["sha256"] for v in case["videos"]] == [
        hashlib.sha256(b).hexdigest() for b in (MP4, second)
    ]
    html = client.get(f"/checks/{row.id}?lang=en").get_data(as_text=True)
    assert "开箱.mp4" in html and "细节.mp4" in html
    assert html.count('data-testid="case-video"') == 2
    second_page = client.get(f"/checks/{row.id}?video=1&lang=en").get_data(as_text=True)
    assert 'aria-current="page"' in second_page and "v1-face-1.jpg" in second_page
    banner = re.search(r'<section class="verdict.*?</section>', second_page, re.S).group(0)
    assert "细节.mp4" in banner and "开箱.mp4" not in banner  # the file shown is named
    assert "v0-face-1.jpg" not in second_page  # the pictures are the chosen video's
    with client.get(f"/checks/{row.id}/case.json") as resp:
        assert resp.status_code == 200 and resp.json == case
    # A check of one video has no case report of its own (its report.json is the case).
    single = make_check(client, csrf, [upload(client, csrf, MP4 + b"1")[0]])
    wait_done(client, single["id"])
    assert client.get(f"/checks/{single['id']}/case.json").status_code == 404
    assert 'data-testid="case-video"' not in client.get(f"/checks/{single['id']}").get_data(
        as_text=True
    )


def test_a_case_of_file_parts_too(app: Flask, client: FlaskClient) -> None:
    """Without JavaScript the form posts the videos as parts of one request."""
    csrf = token(client)
    data = {"video": [(io.BytesIO(MP4), "a.mp4"), (io.BytesIO(MP4 + b"x"), "b.mp4")]}
    resp = client.post(f"/checks?csrf_token={csrf}", data=data, headers=XHR)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert wait_done(client, resp.json["id"])["status"] == "done"
    row = app.extensions["appeal"].store.get(resp.json["id"])
    assert len(app.extensions["appeal"].storage.video_paths(str(row.tenant_id), row.id)) == 2
    # A case whose second video is not one is refused whole, naming it.
    data = {"video": [(io.BytesIO(MP4), "a.mp4"), (io.BytesIO(b"GIF89a" * 20), "b.gif")]}
    resp = client.post(f"/checks?csrf_token={csrf}", data=data, headers=XHR)
    assert resp.status_code == 415 and resp.json["error"]["details"]["field"] == "video[1]"


def test_an_unfinished_upload_is_not_checked(client: FlaskClient) -> None:
    csrf = token(client)
    url = create(client, csrf, len(MP4)).headers["Location"]
    patch(client, csrf, url, 0, MP4[:100])
    resp = client.post("/checks", data={"upload": url.rsplit("/", 1)[-1]},
                       headers={**XHR, "X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status_code == 409 and resp.json["error"]["details"]["offset"] == 100
    assert offset_of(client, url) == 100  # kept: the client sends the rest


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    content=st.binary(min_size=1, max_size=5000),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=12),
    drops=st.lists(st.integers(min_value=0, max_value=5000), max_size=4),
)
def test_any_chunk_split_reassembles_to_the_same_sha256(
    content: bytes, cuts: list[int], drops: list[int]
) -> None:
    """However the file is cut into chunks, and wherever a chunk is cut short by a drop
    (the client then resumes from the server's offset), the stored bytes are the file's."""
    with tempfile.TemporaryDirectory() as root:
        store = PartialUploads(root, expiry_s=60)
        part = store.create("owner", len(content), "x.mp4", max_bytes=10_000, max_open=1)
        bounds = sorted({c for c in cuts if 0 < c < len(content)} | {len(content)})
        drop_at = set(drops)
        offset = 0
        for end in bounds:
            while offset < end:
                body = content[offset:end]
                if offset in drop_at:  # the connection drops halfway through this chunk
                    drop_at.discard(offset)
                    body = body[: len(body) // 2]
                stream = io.BytesIO(body)
                try:
                    store.append("owner", part.id, offset, end - offset, stream, max_chunk=10_000)
                except CutShort:  # the drop: what arrived is kept, the client asks where
                    pass
                except OffsetMismatch:  # pragma: no cover - the loop asks first
                    raise
                offset = store.get("owner", part.id).offset  # HEAD: where to go on
        done, path = store.data_path("owner", part.id)
        assert done.complete
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(content).digest()
        assert os.path.getsize(path) == len(content)


def test_a_crash_between_data_and_offset_leaves_no_gap(tmp_path: Path) -> None:
    """Bytes past the offset of record (written, but the process died before meta.json
    said so) are overwritten by the next append, never kept as a gap or a duplicate."""
    store = PartialUploads(tmp_path, expiry_s=60)
    part = store.create("o", 10, None, max_bytes=100, max_open=1)
    store.append("o", part.id, 0, 4, io.BytesIO(b"abcd"), max_chunk=100)
    with open(tmp_path / "o" / part.id / "data", "ab") as f:
        f.write(b"junk")  # the crash: data written, offset not
    assert store.get("o", part.id).offset == 4
    store.append("o", part.id, 4, 6, io.BytesIO(b"efghij"), max_chunk=100)
    assert store.data_path("o", part.id)[1].read_bytes() == b"abcdefghij"


def test_one_append_at_a_time(tmp_path: Path) -> None:
    """A retry that arrives while the first request still writes is refused, not
    interleaved (the client asks the offset and goes on)."""
    import fcntl

    from validator.jobs.partial import Busy

    store = PartialUploads(tmp_path, expiry_s=60)
    part = store.create("o", 10, None, max_bytes=100, max_open=1)
    with open(tmp_path / "o" / part.id / "data", "r+b") as writing:
        fcntl.flock(writing.fileno(), fcntl.LOCK_EX)  # the first request, still writing
        try:
            store.append("o", part.id, 0, 4, io.BytesIO(b"abcd"), max_chunk=100)
        except Busy:
            pass
        else:
            raise AssertionError("a second writer was let in")
    assert store.append("o", part.id, 0, 4, io.BytesIO(b"abcd"), max_chunk=100).offset == 4


def test_a_case_takes_at_most_max_clips(client: FlaskClient) -> None:
    from validator.web.uploads import MAX_CLIPS

    csrf = token(client)
    parts = [(io.BytesIO(MP4), f"{i}.mp4") for i in range(MAX_CLIPS + 1)]
    resp = client.post(f"/checks?csrf_token={csrf}", data={"video": parts}, headers=XHR)
    assert resp.status_code == 400
    assert resp.json["error"]["details"]["max_videos"] == MAX_CLIPS


def test_byte_counts_are_ascii_digits_only(client: FlaskClient) -> None:
    """'²' passes str.isdigit() and fails int(): it was a 500; now every header that is
    no plain number is a 400 naming the header, and nothing is made or written."""
    csrf = token(client)
    for bad in ("²", "١٢", "+5", " 5", "5 ", "9" * 20, ""):
        headers = {"Upload-Length": bad, "X-CSRF-Token": csrf, **XHR}
        resp = client.post("/uploads", headers=headers)
        assert resp.status_code == 400, (bad, resp.status_code)
        assert resp.json["error"]["details"]["header"] == "Upload-Length"
    url = create(client, csrf, 10).headers["Location"]
    for bad in ("²", "０"):
        headers = {"Upload-Offset": bad, "Content-Type": CHUNK_TYPE, "X-CSRF-Token": csrf}
        resp = client.patch(url, data=b"x", headers={**XHR, **headers})
        assert resp.status_code == 400
        assert resp.json["error"]["details"]["header"] == "Upload-Offset"
    assert offset_of(client, url) == 0


def test_a_refused_case_gives_every_upload_back(app: Flask, client: FlaskClient) -> None:
    """A case whose later video is refused (not a video: 415) used to lose the earlier
    uploads (moved into the check, deleted with it): the merchant sent gigabytes again.
    Now nothing is taken: each upload is whole afterwards, and checks on its own."""
    csrf = token(client)
    good_id, good_url = upload(client, csrf, MP4, name="开箱.mp4")
    gif = b"GIF89a" + bytes(200)
    bad_id, bad_url = upload(client, csrf, gif, name="细节.gif")
    resp = client.post("/checks", data={"upload": [good_id, bad_id]},
                       headers={**XHR, "X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status_code == 415 and resp.json["error"]["details"]["field"] == "video[1]"
    assert offset_of(client, good_url) == len(MP4) and offset_of(client, bad_url) == len(gif)
    root = app.extensions["appeal"].settings.data_dir
    assert not list((root / "uploads").rglob(".claimed-*"))  # given back, not left claimed
    # The same id twice: a 400 of its own, and the upload is untouched.
    resp = client.post("/checks", data={"upload": [good_id, good_id]},
                       headers={**XHR, "X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status_code == 400
    assert resp.json["error"]["details"]["reason"] == "upload_duplicate"
    assert "重复" in client.post(
        "/checks?lang=zh",
        data={"upload": [good_id, good_id]},
        headers={**XHR, "X-CSRF-Token": csrf},
    ).get_data(as_text=True)
    assert offset_of(client, good_url) == len(MP4)
    new = make_check(client, csrf, [good_id])
    assert wait_done(client, new["id"])["status"] == "done"
    row = app.extensions["appeal"].store.get(new["id"])
    assert row.sha256 == hashlib.sha256(MP4).hexdigest()
    assert client.head(good_url).status_code == 404  # the check has it now


def test_one_upload_goes_to_one_check(app: Flask, client: FlaskClient) -> None:
    """Two posts naming the same upload at once: the one that claims it first gets it;
    the other is a clean 409 (still held) or 404 (taken), never a 500 of a vanished file."""
    csrf = token(client)
    upload_id, _url = upload(client, csrf, MP4)
    svc = app.extensions["appeal"]
    owner = next(p for p in (svc.settings.data_dir / "uploads").iterdir() if p.is_dir()).name
    held = svc.partial_uploads.claim(owner, upload_id)  # the first post, mid-way
    try:
        resp = client.post("/checks", data={"upload": upload_id},
                           headers={**XHR, "X-CSRF-Token": csrf})  # fmt: skip
        assert resp.status_code in (404, 409), resp.get_data(as_text=True)
        assert resp.json["error"]["details"]["reason"] in ("upload_missing", "upload_busy")
        zh = client.post(
            "/checks?lang=zh", data={"upload": upload_id}, headers={**XHR, "X-CSRF-Token": csrf}
        ).get_data(as_text=True)
        assert "请重新选择该视频" in zh or "请稍候再提交" in zh
    finally:
        held.discard()  # the first post's check was committed
    resp = client.post("/checks", data={"upload": upload_id},
                       headers={**XHR, "X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status_code == 404 and resp.json["error"]["details"]["reason"] == "upload_missing"


def test_a_claim_is_atomic(tmp_path: Path) -> None:
    """Of two claims of one upload exactly one wins; a released one can be claimed again
    with its bytes intact, a discarded one is gone."""
    from validator.jobs.partial import Busy, UploadMissing

    store = PartialUploads(tmp_path, expiry_s=60)
    part = store.create("o", 4, None, max_bytes=100, max_open=2)
    store.append("o", part.id, 0, 4, io.BytesIO(b"abcd"), max_chunk=100)
    first = store.claim("o", part.id)
    for attempt in range(2):
        try:
            store.claim("o", part.id)
        except (Busy, UploadMissing):
            pass
        else:
            raise AssertionError(f"a second claim won (attempt {attempt})")
    first.release()
    again = store.claim("o", part.id)
    assert again.data.read_bytes() == b"abcd"
    again.discard()
    try:
        store.get("o", part.id)
    except UploadMissing:
        pass
    else:
        raise AssertionError("a discarded claim left its upload")


def test_a_cancel_or_sweep_waits_for_the_writer(tmp_path: Path) -> None:
    """discard and sweep removed an upload a PATCH was still writing (the PATCH failed
    with a 500); now they take its lock first: a cancel meanwhile is Busy (409), the
    sweep leaves it for its next round, and a cancel of a missing upload is a 404."""
    import fcntl

    from validator.jobs.partial import Busy, UploadMissing

    now = [1000.0]
    store = PartialUploads(tmp_path, expiry_s=60, clock=lambda: now[0])
    part = store.create("o", 10, None, max_bytes=100, max_open=2)
    with open(tmp_path / "o" / part.id / "data", "r+b") as writing:
        fcntl.flock(writing.fileno(), fcntl.LOCK_EX)  # a PATCH, still writing
        try:
            store.discard("o", part.id)
        except Busy:
            pass
        else:
            raise AssertionError("a cancel removed an upload being written")
        now[0] += 61  # expired meanwhile (its last append was long ago)
        assert store.sweep() == 0
        assert (tmp_path / "o" / part.id / "meta.json").is_file()
    assert store.sweep() == 1 and not (tmp_path / "o").exists()
    for gone in (part.id, "never-made"):
        try:
            store.discard("o", gone)
        except UploadMissing:
            pass
        else:
            raise AssertionError("a missing upload was discarded")


def test_concurrent_creations_keep_the_limit(tmp_path: Path, monkeypatch) -> None:
    """Count, then make: two creations at once both counted one short of the limit and
    both made theirs. The count is widened here (a slow disk) so that every creation
    would pass it together; the lock lets exactly max_open through."""
    import threading

    from validator.jobs import partial
    from validator.jobs.partial import TooManyOpen

    listed = partial._subdirs

    def slow_subdirs(folder: Path) -> list[Path]:
        found = listed(folder)
        time.sleep(0.05)
        return found

    monkeypatch.setattr(partial, "_subdirs", slow_subdirs)
    store = PartialUploads(tmp_path, expiry_s=60)
    made: list[str] = []
    refused: list[int] = []

    def one() -> None:
        try:
            made.append(store.create("o", 10, None, max_bytes=100, max_open=2).id)
        except TooManyOpen:
            refused.append(1)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 2 and len(refused) == 4
    assert store.open_count("o") == 2


def test_the_service_bounds_every_sessions_uploads_together(tmp_path: Path, monkeypatch) -> None:
    """The open-upload limit was per session and a new session is free: the service
    now bounds all sessions' open uploads, the bytes they declare, and wants the free
    disk for what they may still send (503 with words of its own, not a full disk)."""
    from validator.jobs import partial

    cfg = app_config(tmp_path / "data", UPLOAD_MAX_OPEN_TOTAL=2, UPLOAD_MAX_TOTAL_MB=3)
    app = create_app(cfg)
    try:
        s0, s1, s2 = (app.test_client() for _ in range(3))
        t0, t1, t2 = token(s0), token(s1), token(s2)
        assert create(s0, t0, 1 << 20).status_code == 201
        url1 = create(s1, t1, 1 << 20).headers["Location"]
        full = create(s2, t2, 100)  # a third session, free to make, one upload
        assert full.status_code == 503 and full.json["error"]["details"]["reason"] == "no_room"
        assert full.json["error"]["details"]["limit"] == "open"
        headers = {**XHR, "Upload-Length": "100", "X-CSRF-Token": t2}
        assert "没有空间" in s2.post("/uploads?lang=zh", headers=headers).get_data(as_text=True)
        # Declared bytes: 1 MiB of 3 once one is cancelled; 3 MiB more is over, 2 is not.
        assert s1.delete(url1, headers={"X-CSRF-Token": t1}).status_code == 204
        over = create(s2, t2, 3 << 20)
        assert over.status_code == 503 and over.json["error"]["details"]["limit"] == "bytes"
        url2 = create(s2, t2, 2 << 20).headers["Location"]
        assert s2.delete(url2, headers={"X-CSRF-Token": t2}).status_code == 204
        # The free disk: s0's upload may still send 1 MiB; a disk with only that (and
        # the reserve) free has no room for 100 bytes more.
        usage = partial.shutil.disk_usage(tmp_path)
        free = (1 << 20) + partial.DISK_RESERVE_BYTES
        monkeypatch.setattr(partial.shutil, "disk_usage", lambda _p: usage._replace(free=free))
        refused = create(s2, t2, 100)
        assert refused.status_code == 503 and refused.json["error"]["details"]["limit"] == "disk"
        monkeypatch.undo()
        assert create(s2, t2, 100).status_code == 201
    finally:
        app.extensions["appeal"].close()


def test_only_bytes_keep_an_upload_alive(tmp_path: Path) -> None:
    """An empty PATCH (Content-Length: 0) refreshed the upload, so it never expired and
    its declared length stayed held; and however often bytes come, an upload older than
    the hard maximum age is gone."""
    from validator.jobs.partial import UploadMissing

    def gone(upload_id: str) -> bool:
        try:
            store.get("o", upload_id)
        except UploadMissing:
            return True
        return False

    now = [1000.0]
    store = PartialUploads(tmp_path, expiry_s=60, max_age_s=150, clock=lambda: now[0])
    idle = store.create("o", 10, None, max_bytes=100, max_open=2)
    busy = store.create("o", 100, None, max_bytes=100, max_open=2)
    now[0] += 50
    store.append("o", idle.id, 0, 0, io.BytesIO(b""), max_chunk=100)  # an empty PATCH
    store.append("o", busy.id, 0, 1, io.BytesIO(b"x"), max_chunk=100)
    now[0] += 50  # no byte for 100 s: the empty append did not count
    assert gone(idle.id) and not gone(busy.id)
    store.append("o", busy.id, 1, 1, io.BytesIO(b"x"), max_chunk=100)
    now[0] += 49  # 149 s old, touched 49 s ago
    assert not gone(busy.id)
    now[0] += 2  # 151 s old: past the maximum age, though touched 51 s ago
    assert gone(busy.id)
    assert store.sweep() == 2 and not (tmp_path / "o").exists()


def test_reloads_mid_upload_do_not_lock_the_merchant_out(tmp_path: Path) -> None:
    """Each reload mid-upload leaves an upload behind; at the session's limit a new one
    took a 429 ("too many attempts ... 60 seconds") for the whole day the old ones took
    to expire. Now the session's upload idle longest makes way; only uploads that are
    all receiving bytes refuse a new one, in words of their own."""
    import fcntl

    cfg = app_config(tmp_path / "data", UPLOAD_MAX_OPEN=2)
    app = create_app(cfg)
    svc = app.extensions["appeal"]
    try:
        client = app.test_client()
        csrf = token(client)
        old_url = create(client, csrf, len(MP4)).headers["Location"]
        assert patch(client, csrf, old_url, 0, MP4[:100]).status_code == 204
        later = time.time() + 120
        svc.partial_uploads.clock = lambda: later  # two minutes on: the page was reloaded
        new_url = create(client, csrf, len(MP4)).headers["Location"]
        assert patch(client, csrf, new_url, 0, MP4[:100]).status_code == 204
        third = create(client, csrf, len(MP4))  # reloaded again: the oldest makes way
        assert third.status_code == 201, third.get_data(as_text=True)
        assert client.head(old_url).status_code == 404
        assert offset_of(client, new_url) == 100  # the one receiving bytes is kept
        # Both open ones busy (a chunk being written to each): a fourth is refused.
        svc.partial_uploads.clock = lambda: later + 120
        root = svc.settings.data_dir / "uploads"
        held = [open(p, "rb") for p in root.rglob("data")]  # noqa: SIM115
        try:
            for f in held:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            refused = client.post("/uploads?lang=zh", headers={
                **XHR, "Upload-Length": "100", "X-CSRF-Token": csrf})  # fmt: skip
            assert refused.status_code == 429
            assert refused.json["error"]["details"]["reason"] == "too_many_uploads"
            text = refused.get_data(as_text=True)
            assert "同时上传的视频过多" in text and "60 秒" not in text
        finally:
            for f in held:
                f.close()
        assert len(list(root.rglob("data"))) == 2
    finally:
        svc.close()


def test_a_chunk_too_large_is_not_called_a_video_too_large(tmp_path: Path) -> None:
    """A chunk over the chunk limit read "the video is larger than this service accepts
    (16 MB)" (the merchant's 2 GB video was fine), and one past the declared length
    read the generic error: each has its reason and words now."""
    cfg = app_config(tmp_path / "data", UPLOAD_CHUNK_MB=1)
    app = create_app(cfg)
    try:
        client = app.test_client()
        csrf = token(client)
        url = create(client, csrf, 3 << 20).headers["Location"]
        for lang, words in (("en", "A piece of the upload"), ("zh", "上传的一段数据")):
            big = patch(client, csrf, f"{url}?lang={lang}", 0, b"\0" * ((1 << 20) + 1))
            assert big.status_code == 413
            assert big.json["error"]["details"]["reason"] == "chunk_too_large"
            assert words in big.json["error"]["localized"]
            assert "MB" not in big.json["error"]["localized"]
        small = create(client, csrf, 100).headers["Location"]
        for lang, words in (("en", "more bytes than the size"), ("zh", "超过了该视频声明的大小")):
            past = patch(client, csrf, f"{small}?lang={lang}", 0, b"\0" * 101)
            assert past.status_code == 413
            assert past.json["error"]["details"]["reason"] == "past_length"
            assert words in past.json["error"]["localized"]
        assert offset_of(client, url) == 0 and offset_of(client, small) == 0
        # The declared length over the video limit keeps the video's words.
        over = create(client, csrf, (4096 << 20) + 1)
        assert "4096 MB" in over.json["error"]["localized"]
    finally:
        app.extensions["appeal"].close()


def test_the_uploads_lock_file_is_private(tmp_path: Path) -> None:
    store = PartialUploads(tmp_path / "uploads", expiry_s=60)
    store.create("o", 10, None, max_bytes=100, max_open=2)
    assert os.stat(tmp_path / "uploads" / ".lock").st_mode & 0o777 == 0o600
