"""Hostile case files (issue 11): every limit is refused with the limit in the message, by
the one loader every adapter uses (library, predict, check --case, the API), quickly; a
megabyte line full of insults is answered in under a second; a bug is exit 70."""

from __future__ import annotations

import io
import json
import os
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from validator import cli
from validator.errors import CaseError, ConfigError
from validator.predict import load_case, predict, render_text
from validator.predict.case import (
    DEFAULT_MAX_CASE_BYTES,
    MAX_CASE_BYTES_ENV,
    MAX_DEPTH,
    MAX_TRANSCRIPT_LINES,
)
from validator.timeutil import parse_time

NOW = "2026-11-26T12:00"
ONE_SECOND = 1.0  # issue 11: a 1 MB single line full of hits answered in under a second


def nested(levels: int) -> str:
    """A case whose ``claim.statement`` sits under ``levels`` levels of nesting."""
    inner = "[" * (levels - 2) + "]" * (levels - 2)  # the object and claim are two levels
    return '{"claim": {"statement": ' + inner + "}}"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- each limit, through the library -------------------------------------------------------


def test_a_case_over_the_size_limit_is_refused_with_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    filler = "好" * (DEFAULT_MAX_CASE_BYTES // 3 + 10)  # 3 bytes each in UTF-8: just over
    path.write_text(json.dumps({"claim": {"statement": filler}}, ensure_ascii=False), "utf-8")
    with pytest.raises(CaseError, match=f"limit is {DEFAULT_MAX_CASE_BYTES:,} bytes") as info:
        load_case(path)
    assert info.value.details["max_bytes"] == DEFAULT_MAX_CASE_BYTES
    # The same case as JSON text and as a dict (the API's way in) is refused alike.
    with pytest.raises(CaseError, match="limit is"):
        load_case(path.read_text("utf-8"))
    with pytest.raises(CaseError, match="limit is"):
        load_case(json.loads(path.read_text("utf-8")))


def test_the_size_limit_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"claim": {"statement": "x" * 500}}), "utf-8")
    assert load_case(path)["claim"]["statement"] == "x" * 500
    monkeypatch.setenv(MAX_CASE_BYTES_ENV, "100")
    with pytest.raises(CaseError, match="limit is 100 bytes"):
        load_case(path)
    monkeypatch.setenv(MAX_CASE_BYTES_ENV, "lots")
    with pytest.raises(ConfigError, match=MAX_CASE_BYTES_ENV):
        load_case(path)


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 200, 100_000])
def test_nesting_over_the_limit_is_refused(levels: int) -> None:
    with pytest.raises(CaseError, match=f"deeper than {MAX_DEPTH} levels"):
        load_case(nested(levels))


def test_nesting_at_the_limit_is_only_a_schema_question() -> None:
    # 64 levels pass the limit; the schema then says a statement is text, not a list.
    with pytest.raises(CaseError, match=r"^claim\.statement: expected a string"):
        load_case(nested(MAX_DEPTH))


def test_deep_dicts_from_callers_are_refused_without_recursion() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(CaseError, match="deeper than"):
        load_case({"claim": {"statement": deep}})


def test_transcripts_over_the_line_limit_are_refused() -> None:
    line = {"from": "merchant", "text": "亲"}
    ok = {"service": {"transcript": [line] * MAX_TRANSCRIPT_LINES}}
    assert len(load_case(ok)["service"]["transcript"]) == MAX_TRANSCRIPT_LINES
    over = {"service": {"transcript": [line] * (MAX_TRANSCRIPT_LINES + 1)}}
    with pytest.raises(CaseError, match=f"limit is {MAX_TRANSCRIPT_LINES:,}") as info:
        load_case(over)
    assert info.value.details["field"] == "service.transcript"


@pytest.mark.parametrize(
    "number",
    ["NaN", "Infinity", "-Infinity", "1e999", "9223372036854775808", "-9223372036854775809",
     "123456789012345678901234567890", "1" + "0" * 5000],
)  # fmt: skip
def test_numbers_json_or_64_bits_cannot_hold_are_refused(number: str) -> None:
    with pytest.raises(CaseError):
        load_case('{"order": {"amount": ' + number + "}}")


def test_the_largest_64_bit_integer_is_a_number() -> None:
    assert load_case('{"evidence": {"photos": 9223372036854775807}}')["evidence"]["photos"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**64])
def test_dicts_carrying_what_json_cannot_are_refused(value: float) -> None:
    with pytest.raises(CaseError):
        load_case({"order": {"amount": value}})


def test_a_file_named_like_json_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = '{"claim": {"type": "other"}}'
    Path(name).write_text('{"id": "from-the-file"}', "utf-8")
    assert load_case(name)["id"] == "from-the-file"
    assert load_case(Path(name))["id"] == "from-the-file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "case.json"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(CaseError, match="not a regular file"):
        load_case(fifo)
    assert time.monotonic() - start < 5


# --- through the CLI and the API ------------------------------------------------------------


def test_cli_refuses_every_malformed_file_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {
        "deep.json": nested(100_000),
        "nan.json": '{"order": {"amount": NaN}}',
        "bigint.json": '{"evidence": {"photos": 99999999999999999999999}}',
        "lines.json": json.dumps(
            {"service": {"transcript": [{"from": "buyer", "text": "x"}] * 5001}}
        ),
        "big.json": json.dumps({"claim": {"statement": "x" * (DEFAULT_MAX_CASE_BYTES + 1)}}),
        "broken.json": '{"claim": ',
        "binary.json": "\udcff",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        start = time.monotonic()
        code, out, err = run(["predict", str(path), "--format", "json"], capsys)
        assert code == 2, (name, err)
        assert err.startswith("error: ") and err.count("\n") == 1, name
        assert json.loads(out)["error"]["code"] == "bad_case", name
        assert time.monotonic() - start < 30, name
    # check --case reads the case with the same loader, before any video is decoded.
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 64)
    code, _, err = run(["check", str(video), "--case", str(tmp_path / "deep.json")], capsys)
    assert code == 2 and "deeper than 64 levels" in err


def test_cli_reads_a_file_whose_name_starts_with_a_brace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    name = "{case}.json"
    Path(name).write_text('{"id": "TK-brace", "claim": {"type": "other"}}', "utf-8")
    code, out, _ = run(["predict", name, "--format", "json", "--now", NOW], capsys)
    assert code == 3 and json.loads(out)["case_id"] == "TK-brace"


def test_an_unexpected_exception_is_exit_70_not_an_outcome(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import validator.predict as predict_pkg

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(predict_pkg, "predict", broken)
    path = Path(__file__).resolve().parents[1] / "examples" / "cases" / "other.json"
    code, _, err = run(["predict", str(path)], capsys)
    assert code == cli.EXIT_INTERNAL == 70
    assert err.count("\n") == 1 and "bug report" in err and "RuntimeError" in err


def test_api_refuses_hostile_cases_with_400(tmp_path: Path) -> None:
    pytest.importorskip("flask")
    from _service import app_config

    from validator.web import create_app

    app = create_app(app_config(tmp_path / "data", ANALYSIS_TARGET="x:y", RUN_POOL=False))
    try:
        _, key = app.extensions["appeal"].store.create_key("acme")
        client = app.test_client()
        h = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        url = "/api/v1/predictions"
        bodies = {
            "nan": '{"case": {"order": {"amount": NaN}}}',
            "lines": json.dumps(
                {"case": {"service": {"transcript": [{"from": "buyer", "text": "x"}] * 5001}}}
            ),
            "deep": '{"case": {"claim": {"statement": ' + "[" * 70 + "]" * 70 + "}}}",
            # Deeper than Python's JSON decoder recurses: still a 400, never a 500.
            "deeper": '{"case": {"claim": {"statement": ' + "[" * 100_000 + "]" * 100_000 + "}}}",
            "bigint": '{"case": {"evidence": {"photos": 1' + "0" * 5000 + "}}}",
            "big": json.dumps({"case": {"claim": {"statement": "x" * 2_000_000}}}),
        }
        for name, body in bodies.items():
            resp = client.post(url, headers=h, data=body)
            # A body over the case limit is refused before it is read (413).
            want = (413, "payload_too_large") if name == "big" else (400, "bad_case")
            assert (resp.status_code, resp.json["error"]["code"]) == want, name
    finally:
        app.extensions["appeal"].close()


# --- linear time ------------------------------------------------------------------------------


def _megabyte_line(unit: str) -> str:
    return unit * (1_000_000 // len(unit.encode("utf-8")))


@pytest.mark.parametrize(
    "unit",
    [
        "你是骗子，",  # every clause an insult
        "你個白癡！",  # Traditional, every clause
        "我们不是骗子，",  # every one negated: nothing counts, all must be looked at
        "“骗子”",  # every one quoted
        "you idiot ",
        "we are not scammers. ",
        "SB-2000 NMSL2 http://x.cn/sb ",  # codes and URLs
        "随便，爱退不退，自己看。",
        "“",  # unclosed quote marks
    ],
)
def test_a_megabyte_line_full_of_hits_is_answered_in_under_a_second(unit: str) -> None:
    line = _megabyte_line(unit)
    case = {
        "claim": {"type": "other"},
        "service": {
            "transcript": [{"from": "buyer", "text": line}, {"from": "merchant", "text": line}]
        },
    }
    text = json.dumps({**case, "service": {"transcript": case["service"]["transcript"][1:]}},
                      ensure_ascii=False)  # fmt: skip
    assert len(text.encode("utf-8")) <= DEFAULT_MAX_CASE_BYTES
    predict({}, now=parse_time(NOW))  # warm: rulebook and word lists load once per process
    best = float("inf")
    for _ in range(2):  # the better of two: the machine is shared
        start = time.perf_counter()
        p = predict(load_case(text), now=parse_time(NOW))
        render_text(p, "zh")
        best = min(best, time.perf_counter() - start)
    assert best < ONE_SECOND, f"{best:.2f} s"


def test_many_lines_and_many_videos_stay_linear() -> None:
    lines = [{"from": "merchant", "text": "亲，我们不是骗子，马上为您处理"}] * MAX_TRANSCRIPT_LINES
    report = {"verdict": "pass", "requirements": {"completeness": {"verdict": "pass"}}}
    case = {"service": {"transcript": lines}, "evidence": {"videos": [{"report": report}] * 3000}}
    start = time.perf_counter()
    p = predict(case, now=parse_time(NOW))
    assert time.perf_counter() - start < 10
    assert p.attitude.merchant_lines == MAX_TRANSCRIPT_LINES and p.attitude.abusive_lines == 0
    assert p.videos["count"] == 3000


def test_cli_answers_a_megabyte_of_insults(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    line = _megabyte_line("你是骗子，")
    path.write_text(json.dumps({"service": {"transcript": [{"from": "merchant", "text": line}]}},
                               ensure_ascii=False), "utf-8")  # fmt: skip
    with redirect_stdout(io.StringIO()) as out:
        code = cli.main(["predict", str(path), "--format", "json", "--now", NOW])
    assert code == 1
    assert json.loads(out.getvalue())["service"]["abusive_lines"] == 1
