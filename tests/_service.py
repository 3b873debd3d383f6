"""Helpers for the tests and the API benchmark (like ``flask.testing``): fake analyses,
a worker beside a test app, and a server. Test code: it ships in no package.

The fake analyses stand in for ``runner.analyze`` in tests of the plumbing
(idempotency, isolation, webhooks, time limits): the Celery worker runs them in its
pool process exactly like the real one, by their dotted name, e.g.
``create_app({"ANALYSIS_TARGET": "_service:fake_analysis"})`` and then
``with worker(app): ...`` (the worker inherits this process's import path).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

# A 1x1 JPEG (cv2.imencode): the fake analysis's pictures, JPEGs as the real ones.
JPEG_1X1 = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxO"
    "QERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2Nj"
    "Y2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAABAAEDASIAAhEBAxEB/8QAHwAAAQUBAQEB"
    "AQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKB"
    "kaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1"
    "dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl"
    "5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcF"
    "BAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5"
    "OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0"
    "tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwAooooA/9k="
)


def _data_dir(out_dir: str) -> Path:
    return Path(out_dir).parents[3]  # DATA_DIR/files/<tenant>/<check>/derived


def fake_analysis(
    path: str,
    *,
    case: Mapping[str, Any] | None,
    policy: str,
    out_dir: str,
    progress: Callable[[float, str], None],
    more_videos: Sequence[str] = (),
) -> dict[str, Any]:
    """A fast stand-in with the report's shape (validated against its model): fails
    completeness, one cut at 2 s. With ``more_videos`` (a case of several), each gets
    such a report and, as ``check_case`` does, ``report.json`` lists them all.

    Appends a line to ``<DATA_DIR>/fake-analysis.log`` per call (tests count them).
    """
    progress(0.5, "decoding")
    with open(_data_dir(out_dir) / "fake-analysis.log", "a") as f:
        f.write(f"{path}\n")
    reports = [
        _fake_report(p, i, case=case, policy=policy, out_dir=out_dir)
        for i, p in enumerate([path, *more_videos])
    ]
    prediction = None
    if case:  # like the real one: the prediction rides along
        from validator.predict import predict

        prediction = predict(case, reports).to_dict()
    if more_videos:
        from validator.files import write_json
        from validator.models import combine

        verdict = combine([r["verdict"] for r in reports])
        write_json(Path(out_dir) / "report.json", {"verdict": verdict, "status": "done",
                   "videos": reports, "unreadable": [], "prediction": prediction})  # fmt: skip
    report = dict(reports[0])
    if prediction is not None:
        report["prediction"] = prediction
    return report


def _fake_report(
    path: str, i: int, *, case: Mapping[str, Any] | None, policy: str, out_dir: str
) -> dict[str, Any]:
    from validator.analyze import facts_from_case

    data = Path(path).read_bytes()
    # Named as check_case names the pictures of the case's i-th video.
    pictures = [f"v{i}-face-1.jpg", f"v{i}-contact_sheet.jpg"]
    for name in pictures:
        (Path(out_dir) / name).write_bytes(JPEG_1X1)

    def req(verdict: str, code: str, en: str, zh: str, at: list[float]) -> dict[str, Any]:
        reason = {"code": code, "verdict": verdict, "message_en": en, "message_zh": zh}
        return {"verdict": verdict, "reasons": [{**reason, "at_s": at}]}

    report: dict[str, Any] = {
        "schema_version": "1.0",
        "tool": {"name": "appeal-evidence-validator", "version": "fake"},
        "verdict": "fail",
        "requirements": {
            "consistency": req(
                "review", "waybill_not_found", "No waybill read.", "未读取到运单。", []
            ),
            "completeness": req("fail", "cut", "A cut at 2.0 s.", "2.0 秒处有剪辑。", [2.0]),
            "validity": req(
                "pass", "quality_ok", "Light and focus are fine.", "光线清晰度良好。", []
            ),
            "timeliness": req("pass", "recorded_in_time", "Recorded in time.", "录制及时。", []),
        },
        "media": {
            "duration_s": 10.0,
            "width": 640,
            "height": 360,
            "fps": 30.0,
            "fps_nominal": 30.0,
            "vfr": False,
            "rotation": 0,
            "codec": "h264",
            "pix_fmt": "yuv420p",
            "has_audio": False,
            "recorded_at": None,
            "recorded_at_source": None,
            "recorded_at_why": None,
            "creation_times": [],
        },
        "events": [{"kind": "cut", "t_s": 2.0}, {"kind": "freeze", "t_s": 5.0, "length_s": 1.5}],
        "file": {
            "name": Path(path).name,
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        },
        "provenance": [],
        "quality": None,
        "motion": None,
        "waybill": {"expected": None, "codes": [], "match": None, "checked": False},
        "faces": {
            "count": 1,
            "shown": [{"face": 1, "t_s": 1.0, "held_s": 1.0, "thumbnail": pictures[0]}],
            "checked": True,
        },
        "opened_at_s": None,
        "starts_open": False,
        "opening": {"opened_at_s": None, "seen_at_s": None, "starts_open": False},
        "facts": facts_from_case(case).to_dict(),
        "policy": {"name": policy, "version": "fake", "sha256": "0" * 64},
        "thumbnails": {"dir": "", "contact_sheet": pictures[-1], "files": pictures},
        "analysis": {
            "frames": 0,
            "decode_errors": 0,
            "decode_s": 0.0,
            "total_s": 0.0,
            "detectors": [],
            "detector_s": {},
        },
    }
    from validator.report.model import validate_report

    validate_report(report)  # the stand-in keeps the real report's shape, or tests fail
    return report


def slow_analysis(path: str, **kw: Any) -> dict[str, Any]:
    """Hangs (a decoder stuck on a file): the job's time limit must stop it."""
    kw["progress"](0.1, "decoding")
    time.sleep(3600)
    raise AssertionError("unreachable")


def crash_analysis(path: str, **kw: Any) -> dict[str, Any]:
    """Dies like a decoder segfault."""
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def error_analysis(path: str, **kw: Any) -> dict[str, Any]:
    """Raises an unexpected exception (a bug): the job fails with internal_error."""
    raise RuntimeError("boom")


@contextmanager
def worker(
    app_or_settings: Any, *, target: str | None = None, concurrency: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``appeal-validator worker`` for a test app (or its settings or test_config), killed
    on exit.

    The analysis is ``target``, else the app's ``ANALYSIS_TARGET``, else the real one.
    Its output goes to ``<DATA_DIR>-worker.log`` beside the data directory. Killed, not
    stopped: Celery's warm shutdown takes seconds on a polled broker, and a test that
    is over needs nothing from it (``tasks.stop_worker`` is the clean stop).
    """
    from validator.jobs import settings as settings_mod
    from validator.jobs.tasks import start_worker

    extensions = getattr(app_or_settings, "extensions", None)
    if extensions is not None:
        settings = extensions["appeal"].settings
        target = target or app_or_settings.config.get("ANALYSIS_TARGET")
    elif isinstance(app_or_settings, settings_mod.Settings):
        settings = app_or_settings
    else:  # test_config, such as app_config()'s
        settings = settings_mod.resolve(app_or_settings)
    data_dir = settings.data_dir
    with open(data_dir.parent / f"{data_dir.name}-worker.log", "ab") as log:
        proc = start_worker(settings, concurrency=concurrency, analysis_target=target, stdout=log)
    try:
        yield proc
    finally:
        kill_tree(proc.pid)
        proc.wait(10)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (a worker and its pool processes)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children.get(p, []))
    for p in seen:
        with suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


class Server:
    """``appeal-validator serve`` in a subprocess on a free port (tests, the benchmark)."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        environ = dict(os.environ)
        environ.update(env or {})
        environ["APPEAL_VALIDATOR_DATA_DIR"] = str(self.data_dir)
        environ.setdefault("PYTHONUNBUFFERED", "1")
        # The server (and the worker it starts) can import what this process can: this
        # module, named as an analysis target, the project.
        environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.log = open(self.data_dir.parent / f"{self.data_dir.name}-server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "validator", "serve", "--port", "0", "--workers", str(workers)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=environ,
            start_new_session=True,  # killed as a group: the server and its analyses
        )  # fmt: skip
        self.url = self._read_url(timeout)

    def _read_url(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b""
        while time.monotonic() < deadline:
            chunk = self.proc.stdout.read()
            if chunk:
                buf += chunk
                m = re.search(rb"Serving on (http://\S+?)/?\n", buf)
                if m:
                    return m.group(1).decode()
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not start: {buf.decode(errors='replace')}")

    def kill(self) -> None:
        """SIGKILL the server (and its analyses): a crash, no clean-up."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._close()

    def stop(self) -> None:
        """SIGTERM, then wait (serve stops its worker; a job in hand runs again next start)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def app_config(data_dir: str | Path, **overrides: Any) -> dict[str, Any]:
    """Settings for a test app: its own DATA_DIR, quick polling, loopback webhooks."""
    cfg: dict[str, Any] = {
        "DATA_DIR": str(data_dir),
        "POLL_S": 0.05,
        "WEBHOOK_ALLOW_PRIVATE": True,
        "WEBHOOK_BACKOFF_S": 0.1,
        "WEBHOOK_TIMEOUT_S": 5.0,
        "TESTING": True,
    }
    cfg.update(overrides)
    return cfg


GATE_FILE = "release-analysis"  # in DATA_DIR: gated_analysis waits for it


def gated_analysis(path: str, **kw: Any) -> dict[str, Any]:
    """Runs (stage "decoding", 10 %) until the test creates ``<DATA_DIR>/release-analysis``,
    then finishes as ``fake_analysis``: a check that is running for exactly as long as a
    test needs (the form's polling while the browser is offline). Gives up after 5 min.
    """
    kw["progress"](0.1, "decoding")
    gate = _data_dir(kw["out_dir"]) / GATE_FILE
    deadline = time.monotonic() + 300
    while not gate.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{gate} was never created")
        time.sleep(0.1)
    return fake_analysis(path, **kw)
