"""The form's recording guide (issue 12, "Before recording"): its committed pictures and
sample video are what ``fixtures.guide`` renders from the generator, the sample is a
good take by this tool's own check, and the page shows the guide in both languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import cv2
import pytest
from flask.testing import FlaskClient

from fixtures.guide import OUT, SAMPLE, SAMPLE_SIZE, moments, truth

GUIDE = json.loads((OUT / "guide.json").read_text("utf-8"))


def test_the_committed_pictures_show_the_generators_current_moments() -> None:
    """A change of the generator's timing makes the committed pictures stale: this says
    so (regenerate them with ``python -m fixtures.guide``)."""
    t = truth(GUIDE["variant"])
    assert GUIDE["moments_s"] == pytest.approx(moments(t))
    assert GUIDE["sample"]["duration_s"] == t["duration_s"]
    # Each face's picture is taken inside its hold, the opening's after the item is out.
    for face in t["faces"]:
        at = GUIDE["moments_s"][f"face-{face['face']}"]
        assert face["first_t_s"] <= at <= face["first_t_s"] + face["shown_s"]
    assert GUIDE["moments_s"]["opened"] > t["opening"]["item_out_s"]
    assert GUIDE["moments_s"]["sealed"] < t["opening"]["seal_cut_s"]


def test_the_sample_is_small_h264_of_the_whole_take() -> None:
    path = OUT / SAMPLE
    assert path.stat().st_size < 1_500_000  # small enough for a phone on the form's page
    with av.open(str(path)) as c:
        (v,) = c.streams.video
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        assert (v.codec_context.width, v.codec_context.height) == SAMPLE_SIZE
        duration_s = float(c.duration) / av.time_base
    # Within a frame of the take it was rendered from.
    assert abs(duration_s - GUIDE["sample"]["duration_s"]) <= 1 / 30 + 1e-6


@pytest.mark.slow
def test_the_sample_is_a_good_take_by_this_tools_check() -> None:
    """The guide says "a good take": the checker agrees, all four requirements pass with
    the sample's case (its sign-for time and tracking number), and it finds the six faces
    and reads the waybill."""
    from validator import check

    report = check(OUT / SAMPLE, facts=GUIDE["case"]).to_dict()
    assert {k: v["verdict"] for k, v in report["requirements"].items()} == {
        "consistency": "pass", "completeness": "pass", "validity": "pass", "timeliness": "pass",
    }  # fmt: skip
    assert report["faces"]["count"] == 6
    assert GUIDE["case"]["return"]["tracking_number"] in {
        c["text"] for c in report["waybill"]["codes"]
    }


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_form_page_shows_the_guide(client: FlaskClient, lang: str) -> None:
    html = client.get(f"/?lang={lang}").get_data(as_text=True)
    guide = re.search(r'<section class="card guide".*?</section>', html, re.S)
    assert guide, "no guide on the form's page"
    text = guide.group(0)
    assert len(re.findall(r"<li>", text)) == 6  # the six rules
    words = {"en": ("six faces", "waybill", "original file", "sign for"),
             "zh": ("六个面", "运单", "原始文件", "签收")}[lang]  # fmt: skip
    for word in words:
        assert word in text, word
    # Every picture is served, and is as large as the page says it is (no layout jump).
    for tag in re.findall(r"<img [^>]+>", text):
        src = re.search(r'src="([^"]+)"', tag).group(1)
        w, h = (int(re.search(rf'{a}="(\d+)"', tag).group(1)) for a in ("width", "height"))
        assert re.search(r'alt="[^"]+"', tag), tag
        with client.get(src) as resp:
            assert resp.status_code == 200 and resp.mimetype == "image/jpeg"
            name = Path(src).name
        img = cv2.imread(str(OUT / name))
        assert img.shape[:2] == (h, w), name
    src = re.search(r'<source src="([^"]+)" type="video/mp4">', text).group(1)
    with client.get(src, headers={"Range": "bytes=0-99"}) as resp:  # browsers seek by range
        assert resp.status_code == 206 and resp.mimetype == "video/mp4"
        assert len(resp.data) == 100
