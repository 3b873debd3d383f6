"""The ``check`` command: exit codes, one JSON document, clear errors, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from _clips import make_input, write_clip
from _media import EXIFTOOL

from validator.cli import main
from validator.report.build import schema


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "kind, code",
    [
        pytest.param("empty", "empty_file", id="empty"),
        pytest.param("text", "not_a_video", id="text-renamed-mp4"),
        pytest.param("png", "not_a_video", id="png"),
        pytest.param("truncated-moov-at-end", "undecodable", id="truncated"),
        pytest.param("audio-only", "no_video_stream", id="no-video-stream"),
    ],
)
def test_bad_input_exits_4_with_a_code(tmp_path, capsys, kind, code):
    path = make_input(kind, tmp_path)
    rc, out, err = run_cli(capsys, "check", str(path), "--format", "json")
    assert rc == 4
    assert json.loads(out) == {"error": json.loads(out)["error"]}
    assert json.loads(out)["error"]["code"] == code
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in out + err


def test_metadata_only_file_exits_4(realdata, capsys):
    rc, out, _err = run_cli(
        capsys, "check", str(realdata / EXIFTOOL / "QuickTime.mov"), "--format", "json"
    )
    assert rc == 4
    assert json.loads(out)["error"]["code"] == "undecodable"


@pytest.mark.parametrize(
    "args, needle",
    [
        pytest.param(["check"], "required", id="no-video"),
        pytest.param(["check", "nope.mp4"], "no such file", id="missing-file"),
        pytest.param(
            ["check", "{clip}", "--return-signed-at", "yesterday"], "ISO 8601", id="bad-time"
        ),
        pytest.param(["check", "{clip}", "--policy", "nope"], "no policy named", id="bad-policy"),
        pytest.param(["check", "{clip}", "--format", "xml"], "invalid choice", id="bad-format"),
        pytest.param(["frobnicate"], "invalid choice", id="bad-command"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, args, needle):
    clip = write_clip(tmp_path / "c.mp4")
    rc, _out, err = run_cli(capsys, *[a.format(clip=clip) for a in args])
    assert rc == 2
    assert needle in err
    assert "Traceback" not in err


def test_json_report_is_one_document_valid_against_the_schema(tmp_path, capsys):
    clip = write_clip(tmp_path / "c.mp4", frames=60)
    rc, out, _ = run_cli(
        capsys, "check", str(clip), "--format", "json", "--out", str(tmp_path / "o")
    )
    report = json.loads(out)  # exactly one JSON document
    jsonschema.validate(report, schema())
    assert rc == {"pass": 0, "fail": 1, "review": 3}[report["verdict"]]
    assert report["verdict"] == "fail"  # 2 s at 64x48: too short and too small
    # --out holds the case: this video's report (what stdout printed), no case, no prediction
    on_disk = json.loads((tmp_path / "o" / "report.json").read_text())
    assert on_disk["videos"] == [report] and on_disk["prediction"] is None
    assert on_disk["verdict"] == report["verdict"] and on_disk["unreadable"] == []


def test_text_report_in_chinese(tmp_path, capsys):
    clip = write_clip(tmp_path / "c.mp4", frames=60)
    rc, out, _ = run_cli(capsys, "check", str(clip), "--lang", "zh")
    assert rc == 1
    assert "完整性" in out and "不通过" in out


def test_chinese_text_with_a_case_shows_the_prediction_in_chinese(tmp_path, capsys):
    clip = write_clip(tmp_path / "c.mp4", frames=60)
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"claim": {"type": "swapped_item"}}), "utf-8")
    rc, out, _ = run_cli(capsys, "check", str(clip), "--lang", "zh", "--case", str(case))
    assert rc == 1
    [line] = [x for x in out.splitlines() if x.startswith("申诉结果预测")]
    assert "Prediction" not in out
    assert not any(w in line for w in ("likely", "uncertain", "score")), line


def test_python_dash_m_runs_the_cli(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", frames=60)
    p = subprocess.run(
        [sys.executable, "-m", "validator", "check", str(clip), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1
    assert json.loads(p.stdout)["file"]["name"] == "c.mp4"


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("appeal-validator")
    p = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "appeal-validator" in p.stdout


def test_check_with_a_case_includes_the_prediction_for_this_video(tmp_path, capsys):
    clip = write_clip(tmp_path / "c.mp4", frames=60)
    case = Path(__file__).resolve().parents[1] / "examples" / "cases" / "swapped_item.json"
    rc, out, _ = run_cli(capsys, "check", str(clip), "--case", str(case), "--format", "json")
    report = json.loads(out)
    pred = report["prediction"]
    assert pred["outcome"] in ("likely_upheld", "likely_rejected", "uncertain")
    # a 2 s, 64x48 clip fails completeness: the prediction must not call the appeal upheld
    assert pred["outcome"] != "likely_upheld"
    assert rc == 1


def test_bad_case_file_exits_2(tmp_path, capsys):
    clip = write_clip(tmp_path / "c.mp4", frames=60)
    bad = tmp_path / "case.json"
    bad.write_text('{"return": {"signed_at": "yesterday"}}')
    rc, _, err = run_cli(capsys, "check", str(clip), "--case", str(bad))
    assert rc == 2 and "return.signed_at" in err


# -- a bug is exit 70, in every command (issue 13, item 13) ------------------------------

BUG = "boom\n  with a second line"  # a multi-line message must still give one line


def _raise(*_: object, **__: object) -> None:
    raise RuntimeError(BUG)


def _example_case() -> str:
    return str(Path(__file__).resolve().parents[1] / "examples" / "cases" / "other.json")


@pytest.mark.parametrize(
    "target, argv",
    [
        pytest.param("validator._cli.check.check_case", ["check", "{video}"], id="check"),
        pytest.param("validator.predict.predict", ["predict", "{case}"], id="predict"),
        pytest.param(
            "validator.jobs.store.Store.api_keys", ["keys", "list", "--data-dir", "{d}"], id="keys"
        ),
        pytest.param("validator.batch.run_batch", ["batch", "{t}"], id="batch"),
        pytest.param("validator.jobs.tasks.make_celery", ["worker"], id="worker"),
        pytest.param("validator.web.create_app", ["serve", "--data-dir", "{d}"], id="serve"),
        pytest.param("validator.cli.build_parser", ["check", "{video}"], id="parser"),
    ],
)
def test_a_bug_in_any_command_is_exit_70_with_one_line(
    tmp_path, capsys, monkeypatch, target: str, argv: list[str]
) -> None:
    monkeypatch.setenv("APPEAL_VALIDATOR_DATA_DIR", str(tmp_path / "data"))
    video = write_clip(tmp_path / "v.mp4", frames=3)
    fill = {
        "video": str(video),
        "case": _example_case(),
        "d": str(tmp_path / "data"),
        "t": str(tmp_path),
    }
    monkeypatch.setattr(target, _raise)
    code, _, err = run_cli(capsys, *[a.format(**fill) for a in argv])
    assert code == 70, err
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line
    assert "RuntimeError" in err and "bug report" in err and "Traceback" not in err


def test_serve_alone_is_the_same_place(tmp_path, capsys, monkeypatch) -> None:
    from validator._cli import serve

    monkeypatch.setattr("validator.web.create_app", _raise)
    code = serve.main(["--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 70 and err.count("\n") == 1 and "bug report" in err


def test_an_error_of_no_kind_is_exit_70_not_fail(tmp_path, capsys, monkeypatch) -> None:
    """A ValidatorError raised without a class of its own is a bug, not an outcome."""
    from validator.errors import ValidatorError

    def unclassified(*_: object, **__: object) -> None:
        raise ValidatorError("something went wrong")

    monkeypatch.setattr("validator._cli.check.check_case", unclassified)
    code, _, err = run_cli(capsys, "check", str(write_clip(tmp_path / "v.mp4", frames=3)))
    assert code == 70 and "something went wrong" in err


class _Terminal:
    """A stderr that says it is a terminal, and keeps what was written."""

    def __init__(self, tty: bool = True) -> None:
        self.text, self.tty = "", tty

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self.tty


def test_progress_shows_stage_and_percent_on_a_terminal_only() -> None:
    from validator._cli.check import TerminalProgress

    term = _Terminal()
    p = TerminalProgress(term, every_s=0.0)  # type: ignore[arg-type]
    p(0.0, "probing")
    p(0.42, "decoding")
    p(1.0, "done")
    lines = term.text.split("\r")
    assert "probing   0%" in lines and "decoding  42%" in lines
    assert term.text.endswith("\r" + " " * len("decoding  42%") + "\r")  # erased at the end
    piped = _Terminal(tty=False)
    q = TerminalProgress(piped, every_s=0.0)  # type: ignore[arg-type]
    q(0.5, "decoding")
    q.close()
    assert piped.text == ""


def test_check_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    """Through a real pseudo-terminal: the stages appear on stderr, stdout stays the report."""
    import os
    import pty

    clip = write_clip(tmp_path / "clip.mp4", frames=60)
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "validator", "check", str(clip), "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=120,
            check=False,
        )
        os.close(secondary)
        seen = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(primary)
    assert proc.returncode in (0, 1, 3)
    assert json.loads(proc.stdout)["verdict"] in ("pass", "fail", "review")
    assert b"probing" in seen and b"%" in seen
    # Piped (no terminal): nothing on stderr.
    piped = subprocess.run(
        [sys.executable, "-m", "validator", "check", str(clip)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert piped.stderr == b""
