"""Waybill reading, carrier formats, aggregation, the verdict; the detector on made-up frames."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.waybill_frames import noisy_background, synthetic_frame
from validator.detectors.base import REGISTRY, Frame
from validator.detectors.waybill import DENSE_HZ, WaybillDetector
from validator.models import Reason
from validator.policy import load_policy
from validator.waybill.aggregate import (
    VERDICT_OF,
    CodeSummary,
    WaybillTracker,
    make_reason,
    near,
    verdict_from_metrics,
)
from validator.waybill.aggregate import verdict as _verdict
from validator.waybill.carriers import (
    carriers,
    identify,
    normalise,
    same_waybill,
    upu_s10_check_digit,
    validate_check_digit,
)
from validator.waybill.reader import CodeRead, read_codes, scan

SF = "SF1234567890123"
YT = "YT5521907733418"  # another carrier's number, far from SF (13 of 15 characters differ)
NO_POLICY = load_policy()  # the shipped profile


def verdict(*args, **kw):
    """The waybill verdict with the shipped profile's threshold."""
    return _verdict(*args, fail_min_frames=NO_POLICY.waybill.fail_min_frames, **kw)


# The detector tests below count reads at 3 a second.
THREE_HZ = dataclasses.replace(
    NO_POLICY, waybill=dataclasses.replace(NO_POLICY.waybill, sample_hz=3.0)
)


def _s10(service: str, serial: str, country: str = "CN") -> str:
    return f"{service}{serial}{upu_s10_check_digit(serial)}{country}"


# --- normalise ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(" sf 1234-5678 ", "SF12345678", id="spaces-dashes-lower"),
        pytest.param("ＳＦ１２３４５６７８９０１２３", SF, id="full-width"),
        pytest.param("SF\u30001234567890123", SF, id="ideographic-space"),
        pytest.param("]C0SF1234567890123", SF, id="aim-prefix"),
        pytest.param("\x1dSF1234567890123", SF, id="gs-fnc1"),
        pytest.param("<FNC1>SF1234567890123", SF, id="escaped-fnc1"),
        pytest.param("SF—1234—5678—90123", SF, id="em-dashes"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


# --- carriers -----------------------------------------------------------------------------


def test_every_carrier_has_a_source_and_its_examples_identify() -> None:
    table = carriers()
    assert len({c.id for c in table}) == len(table)
    for c in table:
        assert c.source.strip() and c.name_zh and c.name_en
        assert c.examples, c.id
        for ex in c.examples:
            assert c.id in [m.id for m in identify(ex)], (c.id, ex)


@pytest.mark.parametrize(
    ("text", "carrier"),
    [
        pytest.param("sf1234567890123", "sf", id="sf-lower"),
        pytest.param("YT1234567890123", "yto", id="yto"),
        pytest.param("JT1234567890123", "jt", id="jt"),
        pytest.param("JDVA12345678901", "jd", id="jd"),
        pytest.param("DPK123456789012", "deppon", id="deppon"),
        pytest.param("EE 47312482 9 CN", "ems", id="ems-s10-spaced"),
        pytest.param("9812345678901", "chinapost", id="chinapost"),
    ],
)
def test_identify(text: str, carrier: str) -> None:
    assert carrier in [c.id for c in identify(text)]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("HELLO WORLD", id="words"),
        pytest.param("SF123", id="too-short"),
        pytest.param("https://example.com/SF1234567890123", id="url"),
        pytest.param("EE473124828CN", id="s10-bad-check"),
        pytest.param("6901234567892", id="ean-china-prefix"),
    ],
)
def test_identify_rejects(text: str) -> None:
    assert identify(text) == []


def test_numeric_formats_may_overlap() -> None:
    assert {"zto", "sto"} <= {c.id for c in identify("7712345678901")}


# --- UPU S10 check digit --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        pytest.param("RR473124829GB", True, id="wikipedia-example"),
        pytest.param("EE471108151FR", True, id="bwipp-example"),
        pytest.param("EB000717595HK", True, id="npm-s10-valid"),
        pytest.param("EB000717594HK", False, id="npm-s10-invalid"),
        pytest.param("EA000000005CN", True, id="sum-0-gives-5"),
    ],
)
def test_s10_known_numbers(number: str, ok: bool) -> None:
    assert validate_check_digit(number) is ok


def test_no_check_digit_scheme_gives_none() -> None:
    assert validate_check_digit(SF) is None


serials = st.text(alphabet="0123456789", min_size=8, max_size=8)


@given(serial=serials, data=st.data())
def test_s10_changed_check_digit_fails(serial: str, data: st.DataObject) -> None:
    good = _s10("EE", serial)
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != good[10]]))
    assert validate_check_digit(good) is True
    assert validate_check_digit(good[:10] + wrong + good[11:]) is False


@given(serial=serials, pos=st.integers(0, 7), data=st.data())
def test_s10_changed_serial_digit_fails_except_the_5_collision(
    serial: str, pos: int, data: st.DataObject
) -> None:
    """A changed serial digit moves the weighted sum mod 11 (weights are prime to 11).

    The check digit is 11 - S mod 11 with 10 -> 0 and 11 -> 5, so residues 0 and 6
    both give 5: the one change S10 cannot see is a move between those two.
    """
    good = _s10("EE", serial)
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != serial[pos]]))
    bad = good[: 2 + pos] + digit + good[3 + pos :]
    if validate_check_digit(bad):
        assert good[10] == "5"


def test_s10_blind_spot_example() -> None:
    # 00000000 sums to 0 (check 5); a 1 in the weight-6 position sums to 6 (check 5 too)
    assert validate_check_digit("EA000000005CN") and validate_check_digit("EA010000005CN")


# --- same_waybill -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "expected", "same"),
    [
        pytest.param(SF, SF, True, id="exact"),
        pytest.param("sf 1234 5678 90123", SF, True, id="normalised"),
        pytest.param("]C0" + SF, SF, True, id="aim-prefix"),
        pytest.param("SF1234567890124", SF, False, id="one-digit-off"),
        pytest.param("JDVA12345678901-1-1-", "JDVA12345678901", False, id="jd-package-suffix"),
        pytest.param(SF, "", False, id="no-expected"),
    ],
)
def test_same_waybill(read: str, expected: str, same: bool) -> None:
    assert same_waybill(read, expected) is same


# --- tracker and verdict -------------------------------------------------------------------


def _read(text: str, size: int = 100, fmt: str = "Code128") -> CodeRead:
    return CodeRead(text, fmt, ((0, 0), (size, 0), (size, size // 4), (0, size // 4)), 0)


def _code(text: str, frames: int, t: float = 1.0, weak: bool = False, raw: str | None = None):
    return CodeSummary(
        text=normalise(text),
        raw=raw or text,
        format="Code128",
        first_t_s=t,
        last_t_s=t + frames,
        best_t_s=t,
        frames=frames,
        weak=weak,
        carriers=tuple(c.id for c in identify(text)),
    )


def test_tracker_counts_each_text_once_per_frame_and_keeps_the_best_view() -> None:
    tr = WaybillTracker()
    tr.add(1.0, [_read(SF, 100), _read(" sf1234567890123", 120)])  # printed twice on a label
    tr.add(2.0, [_read(SF, 300)])
    tr.add(3.0, [])
    (c,) = tr.codes()
    assert (c.text, c.frames, c.first_t_s, c.last_t_s, c.best_t_s) == (SF, 2, 1.0, 2.0, 2.0)
    assert tr.sampled_frames == 3 and c.carriers == ("sf",)


def test_tracker_spans_join_reads_close_in_time_and_split_at_a_gap() -> None:
    tr = WaybillTracker()
    for t in (1.0, 1.3, 1.7, 2.0, 5.0, 5.3):  # label in view twice, a read missed at 1.7
        tr.add(t, [_read(SF)] if t != 1.7 else [])
    assert tr.spans() == {SF: [[1.0, 2.0], [5.0, 5.3]]}


def test_tracker_pairs_codes_read_on_one_frame() -> None:
    tr = WaybillTracker()
    tr.add(1.0, [_read(SF), _read("ORDER123456")])  # one label: number and order code
    tr.add(2.0, [_read("YT1234567890123")])
    assert tr.read_together() == [["ORDER123456", SF]]


def test_tracker_marks_a_single_read_weak_next_to_a_frequent_one() -> None:
    tr = WaybillTracker()
    for t in range(5):
        tr.add(float(t), [_read(SF)])
    tr.add(6.0, [_read(YT)])
    codes = {c.text: c for c in tr.codes()}
    assert not codes[SF].weak and codes[YT].weak and codes[YT].misread_of == ""
    assert tr.codes()[0].text == SF  # most frames first


def test_tracker_marks_a_near_code_read_half_as_often_a_misread() -> None:
    """Measured misreads of the devset and fixture labels, against their printed numbers."""
    tr = WaybillTracker()
    misreads = {
        "SF1402837716254": ["SFU402837066254", "SF1402837306225"],
        SF: ["SF1094567820123"],
        YT: ["YT5721907733408", "YH5528107733418"],
    }
    # Misreads happen while the printed label is in view: read between its reads.
    for k, (printed, wrong) in enumerate(misreads.items()):
        t0 = 100.0 * k
        for t in range(6):
            tr.add(t0 + t, [_read(printed)])
        for t, text in enumerate(wrong):
            tr.add(t0 + 1.5 + t, [_read(text)])
            tr.add(t0 + 3.5 + t, [_read(text)])
    codes = {c.text: c for c in tr.codes()}
    for printed, wrong in misreads.items():
        assert not codes[printed].weak
        for text in wrong:
            assert codes[text].weak and codes[text].misread_of == printed, text


def test_a_near_code_read_while_the_other_is_out_of_view_is_another_label() -> None:
    """Two labels with the same digits (fixture two-labels: SF... and YT...) on two faces."""
    tr = WaybillTracker()
    for t in range(6):
        tr.add(float(t), [_read(SF)])
    for t in range(3):
        tr.add(10.0 + t / 3, [_read(YT.replace("5521907733418", SF[2:]))])
    codes = {c.text: c for c in tr.codes()}
    other = codes[YT.replace("5521907733418", SF[2:])]
    assert not other.misread_of


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        ("SF1234567890123", "SF1094567820123", True),  # 2 Code 128 symbols, 3 characters
        ("SF1234567890123", "SF1234567890124", True),
        ("SF1234567890123", "SF123456789012", True),  # a character dropped
        ("SF1234567890123", "SF9876543210987", False),
        ("SF1402837716254", YT, False),
        ("ABC1234", "ABC1235", False),  # too short to be a waybill number
        (SF, SF, False),  # the same text is not "near"
    ],
)
def test_near(a: str, b: str, close: bool) -> None:
    assert near(a, b) is close and near(b, a) is close


VERDICT_CASES = [
    pytest.param(SF, [_code(SF, 8)], "pass", "waybill_match", id="expected-many-frames"),
    pytest.param(
        SF,
        [_code(YT, 9), _code(SF, 1)],
        "pass",
        "waybill_match",
        id="expected-once-beside-another-label",
    ),
    pytest.param(
        SF, [_code("SF9999999999999", 6)], "fail", "waybill_mismatch", id="other-sf-number"
    ),
    pytest.param(SF, [_code(YT, 3)], "fail", "waybill_mismatch", id="other-carrier-3-frames"),
    pytest.param(SF, [_code(YT, 2)], "review", "waybill_not_matched", id="other-carrier-2-frames"),
    pytest.param(SF, [_code(YT, 1)], "review", "waybill_not_matched", id="other-on-one-frame"),
    pytest.param(
        SF,
        [_code(YT, 12), _code("YT5521907730118", 2)],
        "fail",
        "waybill_mismatch",
        id="other-and-its-misread-are-one-number",
    ),
    pytest.param(
        SF,
        [_code(YT, 4), _code("JT9876012345678", 3)],
        "review",
        "waybill_ambiguous",
        id="two-other-numbers",
    ),
    pytest.param(
        SF,
        [_code("SF1094567820123", 20)],
        "review",
        "waybill_near_match",
        id="near-the-expected-never-fails",
    ),
    pytest.param(
        SF,
        [_code("SF1234567890124", 15)],
        "review",
        "waybill_near_match",
        id="neighbouring-number",
    ),
    pytest.param(
        SF,
        [_code("ABC12345678XYZ", 30)],
        "review",
        "waybill_not_matched",
        id="unknown-format-never-fails",
    ),
    pytest.param(
        SF,
        [_code("https://example.com/app", 20)],
        "review",
        "waybill_not_matched",
        id="url-qr-many-frames",
    ),
    pytest.param(
        SF,
        [_code("x", 9, raw=f"https://example.com/t?no={SF}&a=1")],
        "review",
        "waybill_embedded",
        id="number-inside-url",
    ),
    pytest.param(
        "JDVA12345678901",
        [_code("JDVA12345678901-1-1-", 5)],
        "review",
        "waybill_embedded",
        id="jd-package-suffix",
    ),
    pytest.param(SF, [], "review", "waybill_not_found", id="nothing-read"),
    pytest.param(None, [_code(SF, 5)], "review", "waybill_no_expected", id="no-expected"),
    pytest.param("  ", [], "review", "waybill_no_expected", id="blank-expected"),
]


@pytest.mark.parametrize(("expected", "codes", "want_verdict", "want_code"), VERDICT_CASES)
def test_verdict(expected, codes, want_verdict: str, want_code: str) -> None:
    v, code, details = verdict(expected, codes, sampled_frames=30)
    assert (v, code) == (want_verdict, want_code)
    assert VERDICT_OF[code] == v
    r = make_reason((v, code, details))
    en, zh = r.message_en, r.message_zh
    assert "[missing:" not in en + zh and "{" not in en + zh, (en, zh)


def test_verdict_unreadable_needs_regions_on_many_frames() -> None:
    few = verdict(SF, [], sampled_frames=30, unread_frames=2)
    many = verdict(SF, [], sampled_frames=30, unread_frames=12)
    assert few[1] == "waybill_not_found" and many[1] == "waybill_unreadable"


def test_verdict_takes_the_detector_metrics_dicts() -> None:
    metrics = {"codes": [_code(SF, 4).to_dict()], "sampled_frames": 12, "unread_frames": 0}
    assert verdict_from_metrics(SF, metrics, NO_POLICY)[:2] == ("pass", "waybill_match")
    assert verdict_from_metrics("SF0000000000001", metrics, NO_POLICY)[:2] == (
        "fail",
        "waybill_mismatch",
    )


def test_reasons_have_both_languages_and_make_reasons() -> None:
    from validator.reasons import shipped

    assert set(VERDICT_OF) == {c for c in shipped() if c.startswith("waybill_")}
    for code in VERDICT_OF:
        en, zh = shipped()[code]["en"], shipped()[code]["zh"]
        assert en.strip() and zh.strip()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)
    r = make_reason(verdict(SF, [_code(SF, 3, t=4.25)], sampled_frames=10))
    assert isinstance(r, Reason) and r.verdict == "pass" and r.at_s == (4.25,)
    assert SF in r.message_en and SF in r.message_zh


# --- reader on generated frames -----------------------------------------------------------


@pytest.mark.parametrize("angle", [0, 90, 180, 270, 30, 45, 120], ids=lambda a: f"{a}deg")
def test_reader_reads_a_waybill_barcode_at_any_angle(angle: int) -> None:
    frame = synthetic_frame(SF, module_px=3.0, angle_deg=angle, seed=angle)
    reads = read_codes(frame)
    assert [r.text for r in reads] == [SF]
    (r,) = reads
    assert r.format == "Code128"
    cx = sum(p[0] for p in r.position) / 4
    cy = sum(p[1] for p in r.position) / 4
    assert abs(cx - 640) < 60 and abs(cy - 360) < 60  # the code was pasted at the centre


def test_reader_larger_code_reads_tiny_code_does_not() -> None:
    """By relation: the same code, larger on screen, is read; far too small, it is not."""
    # pixels per module; not exactly 1.0, where generated modules align with the pixel
    # grid and read, which a camera never gives (1.25-1.5 px do not read)
    sizes = [0.5, 0.75, 1.25, 2.0, 3.0, 4.0]
    read = [bool(read_codes(synthetic_frame(SF, module_px=m, seed=3))) for m in sizes]
    assert not read[0] and read[-1]
    assert read == sorted(read)  # once large enough, every larger size reads too


def test_reader_deskew_pass_reads_tilted_barcodes_zxing_alone_misses() -> None:
    frame = synthetic_frame(SF, module_px=3.0, angle_deg=40, seed=5)
    assert read_codes(frame, try_rotations=False) == []
    assert [r.text for r in read_codes(frame)] == [SF]


def test_reader_reads_qr_codes() -> None:
    text = "YT1234567890123"
    frame = synthetic_frame(text, module_px=6.0, angle_deg=25, fmt="QRCode", seed=2)
    reads = read_codes(frame)
    assert [(r.text, r.format) for r in reads] == [(text, "QRCode")]


def test_reader_finds_nothing_in_a_plain_scene() -> None:
    frame = noisy_background(720, 1280, np.random.default_rng(11))
    s = scan(frame)
    assert s.codes == ()


@pytest.mark.parametrize("shape", [(1, 1), (1, 100), (100, 1), (7, 640)], ids=str)
def test_reader_degenerate_frames_read_nothing(shape: tuple[int, int]) -> None:
    assert read_codes(np.full(shape, 128, np.uint8)) == []


def test_reader_rejects_wrong_inputs() -> None:
    with pytest.raises(ValueError, match="uint8"):
        read_codes(np.zeros((100, 100), np.float32))
    with pytest.raises(ValueError, match="unknown barcode formats"):
        read_codes(np.zeros((100, 100), np.uint8), formats=("Code128", "NoSuchCode"))


# --- the detector on in-memory frames ------------------------------------------------------


def _clip(text: str | None, *, fps: float = 30.0, seconds: float = 4.0, on=(1.5, 3.5)):
    """Frames of a scene; between ``on`` seconds the waybill is on camera."""
    rng = np.random.default_rng(0)
    scene = noisy_background(720, 1280, rng)
    with_code = synthetic_frame(text, module_px=3.0, angle_deg=10, seed=1) if text else scene
    for i in range(int(fps * seconds)):
        t = i / fps
        base = with_code if on[0] <= t < on[1] else scene
        noise = rng.integers(0, 6, base.shape, dtype=np.uint8)  # sensor noise differs per frame
        yield t, _add_noise(base, noise)


def _add_noise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(a.astype(np.int16) + b, 255).astype(np.uint8)


def _run(frames, *, hires: bool = False) -> dict:
    det = WaybillDetector(None, THREE_HZ)
    for i, (t, g) in enumerate(frames):
        if hires:
            small = g[::4, ::4].copy()  # 320 px analysis frame; hires gives the full frame
            frame = Frame(i, t, small, small, hires=lambda n, g=g: g)
        else:
            frame = Frame(i, t, g, g)
        det.process(frame)
    findings = det.finish()
    return {"events": findings.events, **findings.metrics.to_dict()}


def test_detector_is_registered() -> None:
    assert REGISTRY["waybill"] is WaybillDetector


@pytest.mark.parametrize("hires", [False, True], ids=["frame", "hires"])
def test_detector_reads_the_waybill_densely_while_in_view(hires: bool) -> None:
    m = _run(_clip(SF), hires=hires)
    (code,) = m["codes"]
    # in view 1.5-3.5 s: region searches 5 times a second read it on most of them
    in_view = 2.0 * DENSE_HZ
    assert code["text"] == SF and code["frames"] >= 0.8 * in_view
    assert m["region_hits"] >= 0.8 * in_view and m["region_reads"] <= in_view + 2
    assert 1.5 <= code["first_t_s"] < 1.5 + 1 / DENSE_HZ
    ((start, end),) = m["spans"][SF]  # one span, ending within a search period of 3.5 s
    assert start == code["first_t_s"] and 3.5 - 1 / DENSE_HZ <= end < 3.5
    # whole-frame reads (3 a second here) wait while the label is followed
    assert m["whole_frames"] < 3 * 4.0
    assert [e.kind for e in m["events"]] == ["waybill_read"]
    assert m["read_ms_total"] > 0
    assert verdict_from_metrics(SF, m, NO_POLICY)[:2] == ("pass", "waybill_match")
    assert verdict_from_metrics("SF0000000000001", m, NO_POLICY)[:2] == ("fail", "waybill_mismatch")
    assert verdict_from_metrics(None, m, NO_POLICY)[:2] == ("review", "waybill_no_expected")


def test_detector_reads_extra_frames_after_a_big_change() -> None:
    m = _run(_clip(SF))
    assert m["change_reads"] >= 1  # the cut to the label at 1.5 s


def test_detector_without_a_code_reports_nothing() -> None:
    m = _run(_clip(None))
    assert m["codes"] == [] and m["events"] == []
    assert verdict_from_metrics(SF, m, NO_POLICY)[:2] == ("review", "waybill_not_found")


def test_detector_reads_the_hires_frame_when_there_is_one() -> None:
    """The 320 px analysis frame is too small for the code; the hires frame is not."""
    assert _run(_clip(SF), hires=False)["codes"]
    with_hires = _run(_clip(SF), hires=True)
    assert [c["text"] for c in with_hires["codes"]] == [SF]
    only_small = WaybillDetector(None, NO_POLICY)
    for i, (t, g) in enumerate(_clip(SF)):
        small = g[::4, ::4].copy()
        only_small.process(Frame(i, t, small, small))
    assert only_small.finish().metrics.codes == []
