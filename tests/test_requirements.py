"""Findings -> verdicts: the policy's thresholds decide, every reason has both languages."""

from __future__ import annotations

import re
import string
from datetime import timedelta
from pathlib import Path

import pytest

from validator import requirements as req
from validator.detectors.faces import FaceMetrics
from validator.detectors.quality import QualityMetrics
from validator.models import Event
from validator.policy import load_policy
from validator.reasons import catalogue
from validator.timeutil import parse_time

P = load_policy()
SIGNED = parse_time("2026-11-20T14:00")


def codes(r):
    return [x.code for x in r.reasons]


@pytest.mark.parametrize(
    "events, duration, verdict, code",
    [
        pytest.param([], 20, "pass", "continuous_take", id="clean"),
        pytest.param([Event("cut", 5.0, score=2.0)], 20, "fail", "cut_detected", id="cut"),
        pytest.param([Event("gap", 5.0, 0.6)], 20, "fail", "timestamp_gap", id="gap-over"),
        pytest.param([Event("gap", 5.0, 0.4)], 20, "pass", "continuous_take", id="gap-under"),
        pytest.param([Event("audio_gap", 5.0, 0.8)], 20, "fail", "audio_gap", id="audio-gap"),
        pytest.param([Event("freeze", 3.0, 1.5)], 20, "fail", "freeze", id="freeze-over"),
        pytest.param([Event("freeze", 3.0, 0.5)], 20, "pass", "continuous_take", id="freeze-under"),
        pytest.param([Event("black", 3.0, 1.5)], 20, "review", "black_segment", id="black"),
        pytest.param([], 10, "fail", "too_short", id="short"),
        pytest.param([], 31 * 60, "review", "too_long", id="long"),
        pytest.param(
            [Event("edit_software", 0.0, details={"software": "CapCut"})],
            20,
            "review",
            "edit_software",
            id="edited",
        ),
    ],
)
def test_completeness(events, duration, verdict, code):
    r = req.completeness(duration, events, P)
    assert r.verdict == verdict
    assert code in codes(r)


def test_completeness_reasons_carry_times():
    r = req.completeness(20, [Event("cut", 5.25), Event("cut", 12.5)], P)
    assert r.reasons[0].at_s == (5.25, 12.5)
    assert "5.2 s" in r.reasons[0].message_en or "5.3 s" in r.reasons[0].message_en


def quality_of(rows: list[dict]) -> QualityMetrics:
    known = [r for r in rows if r["blur_pct"] is not None]
    return QualityMetrics(len(rows), len(known), None, None, rows)


def rows(n, luma=120.0, blur=0.2):
    return [{"t_s": i, "luma": luma, "blur_pct": blur, "overexposed": 0} for i in range(n)]


def profile(n, luma=120.0, blur=0.2):
    return quality_of(rows(n, luma, blur))


@pytest.mark.parametrize(
    "w, h, quality, verdict, code",
    [
        pytest.param(1920, 1080, profile(20), "pass", "quality_ok", id="good"),
        pytest.param(640, 340, profile(20), "fail", "resolution_too_low", id="tiny"),
        pytest.param(640, 400, profile(20), "review", "resolution_low", id="low"),
        pytest.param(1920, 1080, profile(20, luma=20), "fail", "too_dark", id="dark"),
        pytest.param(1920, 1080, profile(20, luma=245), "fail", "overexposed", id="bright"),
        pytest.param(1920, 1080, profile(20, blur=2.0), "fail", "blurred", id="blurred"),
        pytest.param(
            1920, 1080, profile(20, blur=None), "review", "sharpness_unknown", id="no-edges"
        ),
    ],
)
def test_validity(w, h, quality, verdict, code):
    r = req.validity(w, h, quality, None, P)
    assert r.verdict == verdict
    assert code in codes(r)


def test_validity_fraction_decides_fail_or_review():
    prof = rows(20)
    for s in prof[:6]:  # 30%: between review (20%) and fail (50%)
        s["luma"] = 10
    r = req.validity(1920, 1080, quality_of(prof), None, P)
    assert (r.verdict, codes(r)) == ("review", ["too_dark"])
    for s in prof[:12]:
        s["luma"] = 10
    assert req.validity(1920, 1080, quality_of(prof), None, P).verdict == "fail"


def test_blur_is_not_counted_twice_for_dark_seconds():
    r = req.validity(1920, 1080, profile(20, luma=10, blur=5.0), None, P)
    assert codes(r) == ["too_dark"]


@pytest.mark.parametrize(
    "offset_h, verdict, code",
    [
        pytest.param(-2, "fail", "recorded_before_signed", id="2h-before"),
        pytest.param(-0.2, "pass", "recorded_in_window", id="12min-before"),
        pytest.param(0.5, "pass", "recorded_in_window", id="30min-after"),
        pytest.param(71, "pass", "recorded_in_window", id="71h"),
        pytest.param(5 * 24, "review", "recorded_late", id="5-days"),
        pytest.param(10 * 24, "fail", "recorded_too_late", id="10-days"),
    ],
)
def test_timeliness_window(offset_h, verdict, code):
    facts = req.CheckFacts(return_signed_at=SIGNED)
    r = req.timeliness(SIGNED + timedelta(hours=offset_h), "format:creation_time", facts, P)
    assert (r.verdict, codes(r)) == (verdict, [code])


def test_timeliness_unknowns_are_review():
    assert codes(req.timeliness(None, None, req.CheckFacts(return_signed_at=SIGNED), P)) == [
        "no_creation_time"
    ]
    assert codes(req.timeliness(SIGNED, "x", req.CheckFacts(), P)) == ["no_signed_time"]


def test_late_submission_fails_even_when_recording_is_timely():
    facts = req.CheckFacts(
        return_signed_at=SIGNED,
        submitted_at=SIGNED + timedelta(days=3),
        evidence_deadline=SIGNED + timedelta(days=2),
    )
    r = req.timeliness(SIGNED + timedelta(hours=1), "x", facts, P)
    assert r.verdict == "fail"
    assert codes(r) == ["recorded_in_window", "submitted_late"]


def test_catalogue_entries_are_complete_and_formattable():
    fmt = string.Formatter()
    for code, entry in catalogue().items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code)
        assert entry["verdict"] in ("pass", "fail", "review")
        assert entry["requirement"] in ("consistency", "completeness", "validity", "timeliness")
        # The same fields in both languages; a field with an _en / _zh suffix is the same
        # fact worded for that language (no_creation_time's why).
        fields_en = {re.sub(r"_en$", "", f) for _, f, _, _ in fmt.parse(entry["en"]) if f}
        fields_zh = {re.sub(r"_zh$", "", f) for _, f, _, _ in fmt.parse(entry["zh"]) if f}
        assert fields_en == fields_zh, code
        assert re.search(r"[\u4e00-\u9fff]", entry["zh"]), f"{code}: zh message is not Chinese"


def test_docs_list_every_reason_code():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "reasons.md").read_text("utf-8")
    missing = [c for c in catalogue() if f"`{c}`" not in doc]
    assert not missing, f"document these reason codes in docs/reasons.md: {missing}"


def _faces_metrics(count: int, poses: int) -> FaceMetrics:
    holds = [{"start_s": 2.0 * i, "end_s": 2.0 * i + 1.5, "dark": 0.0} for i in range(poses)]
    shown = [{"face": i + 1, "t_s": 2.0 * i + 0.7} for i in range(count)]
    return FaceMetrics(count=count, shown=shown, holds=holds, opened_at_s=2.0 * poses + 1)


@pytest.mark.parametrize(
    "count, poses, verdict, code",
    [
        pytest.param(6, 6, "pass", "faces_all_shown", id="six-faces"),
        pytest.param(4, 4, "fail", "faces_missing", id="four-faces"),
        pytest.param(5, 6, "fail", "faces_missing", id="one-face-twice"),
        pytest.param(1, 7, "review", "faces_indistinct", id="plain-carton"),
        pytest.param(2, 3, "fail", "faces_missing", id="two-faces-few-poses"),
    ],
)
def test_faces_verdict(count, poses, verdict, code):
    r = req.completeness(20, [], P, faces=_faces_metrics(count, poses))
    assert r.verdict == verdict and code in codes(r)


def test_an_untrusted_recording_time_says_why_in_both_languages(tmp_path):
    """Issue 12: say why a recording time was not trusted (a time in the future), not
    only that it was not."""
    import av
    import numpy as np

    from validator import check
    from validator.media.creation_times import REJECTED

    clip = tmp_path / "future.mp4"
    with av.open(str(clip), "w") as out:
        out.metadata["creation_time"] = "2035-01-01T08:00:00.000000Z"
        st = out.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), format="rgb24")
            f.pts = i
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    (r,) = [
        x
        for x in check(clip, facts={"return": {"signed_at": "2026-11-20T10:00"}}).requirement(
            "timeliness"
        )["reasons"]
        if x["code"] == "no_creation_time"
    ]
    en, zh = REJECTED["future"]
    assert "2035-01-01" in r["message_en"] and en in r["message_en"]
    assert "2035-01-01" in r["message_zh"] and zh in r["message_zh"]
    assert "[missing:" not in r["message_en"] + r["message_zh"]
    # Without a time to reject, the message is the plain one.
    plain = req.timeliness(None, None, req.CheckFacts(return_signed_at=SIGNED), P)
    assert plain.reasons[0].message_en.startswith("The file carries no trustworthy recording time:")
