"""Whole ``check`` runs on the small real clips in ../shared/realdata."""

from __future__ import annotations

import jsonschema
import pytest
from _media import ANDROIDX, MEI

from validator import check
from validator.report.build import schema


def kinds(report) -> list[str]:
    return [e["kind"] for e in report.events]


def test_silent_black_is_black(realdata):
    r = check(realdata / ANDROIDX / "silent-black-10s.mp4")
    jsonschema.validate(r.to_dict(), schema())
    black = [e for e in r.events if e["kind"] == "black"]
    assert (
        len(black) == 1
        and black[0]["t_s"] == 0
        and black[0]["length_s"] == pytest.approx(10, abs=0.1)
    )
    assert "freeze" not in kinds(r)  # reported once, as black
    codes = [x["code"] for x in r.requirement("completeness")["reasons"]]
    assert "black_segment" in codes
    assert "too_dark" in [x["code"] for x in r.requirement("validity")["reasons"]]


@pytest.mark.parametrize("rel", [f"{MEI}/mov/xmp480qt.mov", f"{MEI}/mp4/uuid540.mp4"])
def test_adobe_edited_files_are_flagged(realdata, rel):
    r = check(realdata / rel)
    ev = [e for e in r.events if e["kind"] == "edit_software"]
    assert ev and any("Adobe" in s for s in ev[0]["details"]["software"])
    assert "edit_software" in [x["code"] for x in r.requirement("completeness")["reasons"]]


@pytest.mark.parametrize(
    "name",
    [
        "h265_bframes.mp4",
        "edit_list_positive_shift.mp4",
        "sample_edit_list_only_preroll_sync_sample.mp4",
        "sample_android_slow_motion.mp4",
        "sample_sef_slow_motion.mp4",
        "sample_sef_super_slow_motion.mp4",
    ],
)
def test_reordered_shifted_and_slow_motion_files_have_no_gap(realdata, name):
    r = check(realdata / ANDROIDX / name)
    assert not {"gap", "audio_gap"} & set(kinds(r))


def test_iphone_rotation_and_recording_time(realdata):
    r = check(
        realdata / MEI / "mov" / "with-gps.mov",
        facts={"return": {"signed_at": "2019-07-24T15:00+08:00"}},
    )
    m = r.to_dict()["media"]
    assert (m["rotation"], m["width"], m["height"]) == (90, 320, 568)
    assert m["recorded_at"] == "2019-07-24T08:25:40Z"
    assert m["recorded_at_source"].endswith("com.apple.quicktime.creationdate")
    assert r.requirement("timeliness")["verdict"] == "pass"


def test_a_real_file_with_decode_order_times_is_timed_in_display_order(realdata):
    """opencv-doc box.mp4: H.264 with B-frames, muxed with pts = dts. Its 15 s read as
    42 'seconds' of quality and motion profile (times went back and forth) before."""
    r = check(realdata / "opencv-doc" / "box.mp4").to_dict()
    seconds = [row["t_s"] for row in r["quality"]["profile"]]
    assert seconds == sorted(set(seconds))  # each second once, in order
    assert len(seconds) == pytest.approx(r["media"]["duration_s"], abs=1.5)
    motion = [row["t_s"] for row in r["motion"]["motion_profile"]]
    assert motion == sorted(set(motion))
