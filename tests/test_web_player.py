"""The report's player (issue 12, "Look for yourself"): the uploaded video served with
HTTP Range, an H.264 preview for what browsers cannot play, every time a link to the
player, the timeline's marks the cards' findings only, and advice under each finding.

The ``app``/``client`` fixtures are conftest.py's (a worker runs the fake analysis:
a cut cited at 2 s, a freeze at 5 s that no card cites, a face picture at 1 s)."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import av
import pytest
from _media import clip
from flask.testing import FlaskClient
from test_preview import hevc_clip
from test_web_form import XHR, token, wait_done
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart


def upload(client: FlaskClient, path: Path, name: str = "unboxing.mp4", **fields: str) -> str:
    # Encoded here, in memory: werkzeug's test client spools a large body to a temporary
    # file it leaves open (as test_web_api.upload says).
    data = {"video": FileStorage(io.BytesIO(path.read_bytes()), name), **fields}
    boundary, body = encode_multipart(data)
    resp = client.post(
        f"/checks?csrf_token={token(client)}",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=XHR,
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    check_id = resp.json["id"]
    assert wait_done(client, check_id)["status"] == "done"
    return check_id


@pytest.fixture
def h264() -> Path:
    return clip("clean")[0]


def test_the_video_is_served_with_ranges(client: FlaskClient, app, h264: Path) -> None:
    check_id = upload(client, h264)
    original = h264.read_bytes()
    url = f"/checks/{check_id}/video"
    with client.get(url) as whole:
        assert whole.status_code == 200 and whole.mimetype == "video/mp4"
        assert whole.headers["Accept-Ranges"] == "bytes"
        assert whole.data == original
    with client.get(url, headers={"Range": "bytes=100-199"}) as part:
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes 100-199/{len(original)}"
        assert part.data == original[100:200]
    with client.get(url, headers={"Range": f"bytes={len(original) + 10}-"}) as past:
        assert past.status_code == 416
    # Another browser session cannot fetch it (as the report itself).
    assert app.test_client().get(url).status_code == 404
    # An H.264 MP4 plays as it is: no preview, and the page plays the original.
    assert client.get(f"/checks/{check_id}/preview.mp4").status_code == 404
    page = client.get(f"/checks/{check_id}")
    html = page.get_data(as_text=True)
    assert re.search(rf'<video id="player"[^>]*src="{url}"', html)
    assert "media-src 'self'" in page.headers["Content-Security-Policy"]


def wait_preview(client: FlaskClient, url: str, timeout_s: float = 120.0) -> None:
    """Ask ``url`` as the page's script does (HEAD) until it answers 200, not 202."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with client.head(url) as resp:
            if resp.status_code != 202:
                assert resp.status_code == 200, resp.status_code
                return
            assert int(resp.headers["Retry-After"]) >= 1
        time.sleep(0.1)
    raise AssertionError("the worker never made the preview")


def test_an_hevc_upload_plays_as_an_h264_preview(client: FlaskClient, tmp_path: Path) -> None:
    source = hevc_clip(tmp_path / "IMG_0001.MOV", width=640, height=360)
    check_id = upload(client, source, name="IMG_0001.MOV")
    url = f"/checks/{check_id}/preview.mp4"
    # The page asks the worker for the preview and says so: no source until it is made,
    # an aria-live region for the script, and a word for a browser without one.
    html = client.get(f"/checks/{check_id}?lang=en").get_data(as_text=True)
    player = re.search(r'<video id="player"[^>]*>', html).group(0)
    assert " src=" not in player and f'data-preview-url="{url}"' in player
    assert 'data-state="preparing"' in player
    status = re.search(r'<p[^>]*id="preview-status".*?</p>', html, re.S).group(0)
    assert 'aria-live="polite"' in status and "Preparing a playable copy" in status
    assert "<noscript>Reload this page" in status
    assert "smaller copy made for viewing" in html
    zh = client.get(f"/checks/{check_id}?lang=zh").get_data(as_text=True)
    assert "正在生成可播放的视频副本" in zh and "请一分钟后刷新本页" in zh

    wait_preview(client, url)
    with client.get(url, headers={"Range": "bytes=0-99"}) as first:
        assert first.status_code == 206 and len(first.data) == 100
        size = int(first.headers["Content-Range"].rsplit("/", 1)[1])
    preview = tmp_path / "preview.mp4"
    with client.get(url) as whole:
        assert whole.status_code == 200 and whole.mimetype == "video/mp4"
        assert len(whole.data) == size
        preview.write_bytes(whole.data)
    with av.open(str(preview)) as c, av.open(str(source)) as s:
        assert c.streams.video[0].codec_context.name == "h264"
        got = [f.time for f in c.decode(video=0)]
        want = [f.time for f in s.decode(video=0)]
    assert len(got) == len(want) and abs(got[-1] - want[-1]) < 1 / 25
    with client.get(url) as again:  # made once: the same bytes, from the check's folder
        assert again.data == preview.read_bytes()
    # Made: the page plays it at once, and says nothing of preparing.
    html = client.get(f"/checks/{check_id}?lang=en").get_data(as_text=True)
    assert re.search(rf'<video id="player"[^>]*src="{url}"', html)
    assert 'data-state="ready"' in html and 'id="preview-status"' not in html
    zh = client.get(f"/checks/{check_id}?lang=zh").get_data(as_text=True)
    assert "较小副本" in zh


def test_a_share_link_asks_for_the_preview_and_plays_it(app, tmp_path: Path) -> None:
    """The share view asks the worker too, in a fresh browser (another session), through
    the link's own route; the owner's page then finds it made (one task, one file)."""
    from test_web_history import make_share

    owner = app.test_client()
    source = hevc_clip(tmp_path / "IMG_0004.MOV", width=320, height=180)
    check_id = upload(owner, source, name="IMG_0004.MOV")
    link = make_share(owner, check_id)
    colleague = app.test_client()
    html = colleague.get(link + "?lang=en").get_data(as_text=True)
    url = f"{link}/preview.mp4"
    player = re.search(r'<video id="player"[^>]*>', html).group(0)
    assert f'data-preview-url="{url}"' in player and 'data-state="preparing"' in player
    assert "Preparing a playable copy" in html
    wait_preview(colleague, url)
    with colleague.get(url, headers={"Range": "bytes=0-7"}) as part:
        assert part.status_code == 206 and part.data[4:8] == b"ftyp"
    mine = owner.get(f"/checks/{check_id}").get_data(as_text=True)
    assert re.search(rf'<video id="player"[^>]*src="/checks/{check_id}/preview.mp4"', mine)
    # One task made it: the worker renames the file into place, then ends its row, so the
    # row may still read "making" for a moment after the file is served (CI saw it).
    svc = app.extensions["appeal"]
    deadline = time.monotonic() + 30.0
    while (rec := svc.store.preview(check_id, 0)).state != "ready":
        assert rec.state == "making" and time.monotonic() < deadline, rec.state
        time.sleep(0.05)
    assert rec.error is None


def test_a_preview_that_fails_offers_the_original(app, client: FlaskClient, tmp_path: Path) -> None:
    """Past its time the preview fails (the worker's task, run here in-process with a
    budget of 0 s): the page says so in the merchant's language with the original's
    link, the route refuses it, and nothing asks for it again."""
    from validator.jobs import previews

    source = hevc_clip(tmp_path / "IMG_0002.MOV", width=320, height=180)
    check_id = upload(client, source, name="IMG_0002.MOV")
    svc = app.extensions["appeal"]
    row = svc.store.get(check_id)
    sent: list[str] = []
    previews.request(svc.store, svc.storage, row, 0, lambda c, i, task: sent.append(task))
    assert previews.make(check_id, 0, sent[0], svc.settings, timeout_s=0.0)["status"] == "failed"

    html = client.get(f"/checks/{check_id}?lang=en").get_data(as_text=True)
    video = f"/checks/{check_id}/video"
    assert re.search(rf'<video id="player"[^>]*src="{video}"[^>]*data-state="failed"', html)
    box = re.search(r'<p[^>]*id="preview-failed"[^>]*>.*?</p>', html, re.S).group(0)
    assert " hidden" not in box.split(">", 1)[0] and 'role="alert"' in box
    assert "could not be made" in box and f'href="{video}"' in box
    assert "analysis_timeout" not in html  # no codes in the merchant's view
    zh = client.get(f"/checks/{check_id}?lang=zh").get_data(as_text=True)
    assert "无法为此视频生成可播放的副本" in zh
    with client.get(f"/checks/{check_id}/preview.mp4", headers=XHR) as refused:
        assert refused.status_code == 404
        assert refused.json["error"]["details"]["reason"] == "preview_failed"
    assert len(sent) == 1 and svc.store.preview(check_id, 0).owner == sent[0]


def test_a_preview_deleted_with_its_check_mid_encode_leaves_nothing(
    app, client: FlaskClient, tmp_path: Path
) -> None:
    """The owner deletes the check while the worker makes its preview: no file is left."""
    source = hevc_clip(tmp_path / "IMG_0003.MOV", width=1280, height=720)
    check_id = upload(client, source, name="IMG_0003.MOV")
    url = f"/checks/{check_id}/preview.mp4"
    assert client.head(url).status_code == 202  # the worker is on it
    folder = (
        app.extensions["appeal"]
        .storage.derived_dir(str(app.extensions["appeal"].store.get(check_id).tenant_id), check_id)
        .parent
    )
    deadline = time.monotonic() + 60
    while not list((folder / "derived").glob(".preview.mp4.*.part")):  # mid-encode
        if (folder / "derived" / "preview.mp4").exists() or time.monotonic() > deadline:
            pytest.skip("the encode ended before the test could delete mid-way")
        time.sleep(0.01)
    resp = client.post(
        f"/checks/{check_id}/delete?csrf_token={token(client)}", data={"confirm": "yes"}
    )
    assert resp.status_code == 303
    time.sleep(3.0)  # the worker notices at its rename and its look at the row
    data = Path(app.extensions["appeal"].settings.data_dir)
    assert not folder.exists()
    assert not [p for p in data.rglob("*") if check_id in str(p) or p.name.endswith(".part")]
    assert client.head(url).status_code == 404


def test_every_time_seeks_and_the_timeline_shows_what_the_cards_cite(
    client: FlaskClient, h264: Path
) -> None:
    check_id = upload(
        client,
        h264,
        tracking_number="SF1234567890123",
        return_signed_at="2026-11-20T14:00",
        evidence_deadline="2026-12-05T14:00",
        claim_type="swapped_item",
    )
    html = client.get(f"/checks/{check_id}?lang=en").get_data(as_text=True)
    video = f"/checks/{check_id}/video"
    report = client.get(f"/checks/{check_id}/report.json").json
    # Each time a card cites is a link to that moment of the video, named for it.
    for req in report["requirements"].values():
        for reason in req["reasons"]:
            for t in reason["at_s"]:
                assert f'href="{video}#t={t:.3f}" data-seek="{t:.3f}"' in html
    assert 'aria-label="Show 2.0 s in the player"' in html
    # The timeline: a button per cited moment; the uncited freeze only behind the toggle.
    strip = re.search(r'<div class="timeline".*?</div>', html, re.S).group(0)
    marks = re.findall(r'<button type="button" class="mark (\w+)[^>]*data-seek="([\d.]+)"', strip)
    assert marks == [("cut", "2.000")]
    others = re.search(r'data-testid="other-events".*?</details>', html, re.S).group(0)
    assert 'data-seek="5.000"' in others and "(1)" in others
    # Pictures open large (a link to the file) and their time seeks too.
    picture = f"/checks/{check_id}/thumbnails/v0-face-1.jpg"
    assert f'<a class="enlarge" href="{picture}"' in html
    assert 'data-seek="1.000"' in html

    # What now: the finding that is no pass says what can be done, in both languages.
    card = re.search(r'data-code="waybill_not_found".*?</li>', html, re.S).group(0)
    assert 'data-testid="what-now"' in card and "original file" in card
    assert "sign-for record" in card  # the other evidence the seed accepts
    zh = client.get(f"/checks/{check_id}?lang=zh").get_data(as_text=True)
    card_zh = re.search(r'data-code="waybill_not_found".*?</li>', zh, re.S).group(0)
    assert "原始文件" in card_zh and "签收记录" in card_zh
    assert "请勿剪辑、压缩或转码视频" in zh
    passed = re.search(r'data-code="quality_ok".*?</li>', html, re.S).group(0)
    assert "what-now" not in passed

    # The score shows its scale (the rulebook's own thresholds) and what moved it.
    p = report["prediction"]
    sc = p["scoring"]
    assert f"Score {p['score']} of 100. It starts at {sc['base']}" in html
    assert f"{sc['likely_upheld_min']} or more: likely upheld" in html
    behind = re.search(r'data-testid="score-behind".*?</ul>', html, re.S)
    if p["rules"]:
        caps = [s for s in sc["steps"] if s["step"] in ("block_cap", "hold_cap", "clamp")]
        assert behind and behind.group(0).count("<li") == len(p["rules"]) + len(caps)
        for r in p["rules"]:
            if r["effect"] == "support":
                assert f"+{r['weight']} points" in behind.group(0)
