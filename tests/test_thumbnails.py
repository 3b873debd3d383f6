"""Evidence thumbnails ``check_case`` writes: small valid JPEGs the report points to."""

from __future__ import annotations

from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from _clips import write_two_streams
from _media import clip

from validator import check, check_case
from validator.report.build import schema
from validator.report.thumbnails import contact_sheet, moments

MAX_BYTES = 60_000


def checked(name: str, out: Path):
    path, truth = clip(name)
    (report,) = check_case(truth["case"], [path], out).reports
    return report


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    return checked("clean", out), out


@pytest.fixture(scope="module")
def spliced(tmp_path_factory):
    out = tmp_path_factory.mktemp("spliced")
    return checked("spliced-take", out), out


def _paths(report: dict) -> list[str]:
    found = [f.get("thumbnail") for f in report["faces"]["shown"]]
    found += [report["waybill"].get("thumbnail"), report["opening"].get("thumbnail")]
    found += [e.get("thumbnail") for e in report["events"] if "thumbnail" in e]
    return [p for p in found if p is not None]


def test_every_picture_is_a_small_valid_jpeg(clean):
    report, out = clean
    paths = [*_paths(report), report["thumbnails"]["contact_sheet"]]
    assert len(paths) >= 6 + 2 + 1  # six faces, waybill, opening, contact sheet
    for rel in paths:
        assert not Path(rel).is_absolute() and ".." not in Path(rel).parts
        f = out / rel
        assert f.is_file(), rel
        assert f.stat().st_size < MAX_BYTES, (rel, f.stat().st_size)
        img = cv2.imread(str(f))
        assert img is not None and max(img.shape[:2]) <= 1000


def test_report_points_to_each_face_waybill_and_opening(clean):
    report, out = clean
    assert all(f["thumbnail"] for f in report["faces"]["shown"])
    assert report["waybill"]["thumbnail"] == "v0-waybill.jpg"
    assert report["opening"]["thumbnail"] == "v0-opening.jpg"
    assert (out / "v0-contact_sheet.jpg").is_file()
    jsonschema.validate(report, schema())
    # report.json on disk carries the same paths
    import json

    on_disk = json.loads((out / "report.json").read_text("utf-8"))
    assert on_disk["videos"][0]["faces"] == report["faces"]


def test_waybill_thumbnail_has_the_code_outlined(clean):
    report, out = clean
    img = cv2.imread(str(out / report["waybill"]["thumbnail"]))
    green = (img[..., 1] > 200) & (img[..., 0] < 90) & (img[..., 2] < 90)
    assert green.sum() > 50  # the outline drawn in green


def test_each_visual_event_gets_a_picture(spliced):
    report, out = spliced
    cuts = [e for e in report["events"] if e["kind"] == "cut"]
    assert cuts and all((out / e["thumbnail"]).is_file() for e in cuts)
    jsonschema.validate(report, schema())


def test_without_out_dir_no_pictures_are_referenced():
    path, truth = clip("clean")
    report = check(path, facts=truth["case"], detectors=["faces"]).to_dict()
    assert all(f["thumbnail"] is None for f in report["faces"]["shown"])
    assert "thumbnails" not in report


def test_moments_and_contact_sheet_layout():
    report = {
        "faces": {"shown": [{"face": 1, "t_s": 1.0}, {"face": 2, "t_s": 3.0}]},
        "waybill": {"expected": "X1", "codes": [{"text": "X1", "first_t_s": 0.5, "best_t_s": 0.9}]},
        "opening": {"opened_at_s": 9.0, "seen_at_s": 9.2},
        "events": [{"kind": "cut", "t_s": 5.0}, {"kind": "waybill_read", "t_s": 0.5}],
    }
    names = [m.name for m in moments(report)]
    assert names == ["face-1.jpg", "face-2.jpg", "waybill.jpg", "opening.jpg", "cut-1.jpg"]
    tiles = [(np.full((90, 160, 3), 128, np.uint8), f"tile {i}") for i in range(5)]
    sheet = contact_sheet(tiles)
    assert sheet.shape[1] == 4 * 200 and sheet.shape[0] == 2 * (200 + 18)


def test_the_api_doc_states_the_contact_sheet_size():
    """docs/api.md gives the sheet's size, not the 320 px of the other pictures."""
    from validator.report.thumbnails import CAPTION_PX, LONG_SIDE, SHEET_COLUMNS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text("utf-8")
    section = doc.split("### `GET /api/v1/checks/{id}/thumbnails/{name}`")[1].split("###")[0]
    section = " ".join(section.split())
    cell = 200  # contact_sheet's default
    assert f"at most {LONG_SIDE} px on the long side" in section
    assert f"{SHEET_COLUMNS * cell} px wide, {cell + CAPTION_PX} px a row" in section
    assert "four pictures wide" in section and SHEET_COLUMNS == 4


def test_pictures_come_from_the_stream_the_check_analysed(tmp_path, monkeypatch):
    from validator.media.probe import probe
    from validator.policy import load_policy
    from validator.report import thumbnails

    video = write_two_streams(tmp_path / "two.mp4")
    chosen = probe(video, load_policy()).video_stream_index
    assert chosen == 1  # the recording, not the 5-frame track before it
    (first,) = thumbnails._decode(video, [0.1])
    (picked,) = thumbnails._decode(video, [0.1], chosen)
    assert first is not None and picked is not None
    assert first[..., 2].mean() > 200 and first[..., 1].mean() < 60  # red: stream 0
    assert picked[..., 1].mean() > 200 and picked[..., 2].mean() < 60  # green: stream 1

    # check_case hands the probe's choice to the thumbnails.
    asked: list[int | None] = []

    def decode(video: Path, times: list[float], stream_index: int | None = None) -> list:
        asked.append(stream_index)
        return [None for _ in times]

    def one_moment(report: dict) -> list[thumbnails.Moment]:
        return [thumbnails.Moment("x.jpg", "x", 0.1, {})]

    monkeypatch.setattr(thumbnails, "_decode", decode)
    monkeypatch.setattr(thumbnails, "moments", one_moment)
    check_case(None, [video], tmp_path / "out")
    assert asked == [1]
