"""A new detector with its own event kind is one module (issue 14, item 4).

``SparkDetector`` below is registered only here, and only while a test runs: its
kind must reach the report (events and the completeness reason it declares), the
report schema, the thumbnails, the report page of the form and docs/reasons.md,
with no other file naming it.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from _media import clip
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from validator.analyze import check
from validator.detectors import REGISTRY, Detector, Findings, Frame, event_kinds, register
from validator.models import Event, EventKind, KindReason
from validator.reasons import catalogue
from validator.report.build import schema
from validator.report.thumbnails import moments

SPARK_AT_S = 1.0


class SparkDetector(Detector):
    """Reports one ``spark`` at the first frame from ``SPARK_AT_S`` on."""

    name = "spark"
    event_kinds = (
        EventKind(
            "spark",
            "Spark seen",
            "看到火花",
            "a test-only kind: one spark a second into the video",
            reason=KindReason(
                "spark_seen", "review", "A spark at {times}.", "在 {times} 看到火花。"
            ),
            caption="spark",
            rank=45,
        ),
    )

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.at: float | None = None

    def process(self, frame: Frame) -> None:
        if self.at is None and frame.t_s >= SPARK_AT_S:
            self.at = frame.t_s

    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        events = [] if self.at is None else [Event("spark", self.at, detector=self.name)]
        return Findings(events)


def _registered() -> None:
    if REGISTRY.get(SparkDetector.name) is not SparkDetector:
        register(SparkDetector)


@pytest.fixture
def spark() -> Iterator[type[Detector]]:
    _registered()
    yield SparkDetector
    REGISTRY.pop(SparkDetector.name, None)


def spark_analysis(
    path: str,
    *,
    case: Mapping[str, Any] | None,
    policy: str,
    out_dir: str,
    progress: Callable[[float, str], None],
) -> dict[str, Any]:
    """The service's analysis with the spark detector: runs in the job's own process,
    which imports this module by name, so it registers the detector there itself."""
    _registered()
    report = check(path, facts=case, policy=policy, detectors=["spark"], progress=progress)
    return report.to_dict()


def test_the_kind_is_not_known_without_the_detector() -> None:
    assert "spark" not in event_kinds() and "spark_seen" not in catalogue()
    assert "spark" not in schema()["$defs"]["Event"]["properties"]["kind"]["enum"]


def test_report_schema_and_thumbnails(spark: type[Detector]) -> None:
    path, _ = clip("clean")
    report = check(path, detectors=["spark"]).to_dict()
    sparks = [e for e in report["events"] if e["kind"] == "spark"]
    assert len(sparks) == 1 and SPARK_AT_S <= sparks[0]["t_s"] < SPARK_AT_S + 0.1
    assert sparks[0]["detector"] == "spark"
    reasons = report["requirements"]["completeness"]["reasons"]
    seen = [r for r in reasons if r["code"] == "spark_seen"]
    assert seen and seen[0]["verdict"] == "review" and seen[0]["at_s"] == [sparks[0]["t_s"]]
    assert f"{sparks[0]['t_s']:.1f} s" in seen[0]["message_en"]
    assert report["requirements"]["completeness"]["verdict"] in ("review", "fail")
    jsonschema.validate(report, schema())
    kinds = schema()["$defs"]["Event"]["properties"]["kind"]["enum"]
    assert kinds.index("freeze") < kinds.index("spark") < kinds.index("edit_software")  # rank
    wanted = [m for m in moments(report) if m.name.startswith("spark-")]
    assert [m.caption for m in wanted] == [f"spark {sparks[0]['t_s']:.1f}s"]
    del REGISTRY["spark"]  # the enum comes from the registered kinds
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema())
    register(SparkDetector)


def test_docs(spark: type[Detector]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_reference", Path(__file__).parents[1] / "docs" / "gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    out = io.StringIO()
    with redirect_stdout(out):
        gen.main()
    doc = out.getvalue()
    row = re.search(r"^\| `spark` \| `(?P<by>[^`]+)` \| (?P<meaning>.+) \|$", doc, re.M)
    assert row and row["by"].endswith("test_event_kinds.py")
    assert row["meaning"] == SparkDetector.event_kinds[0].meaning
    completeness = doc.split("## completeness")[1].split("## ")[0]
    assert "| `spark_seen` | review | A spark at {times}. |" in completeness


def test_the_report_page(spark: type[Detector], tmp_path: Path) -> None:
    from _service import app_config, worker

    from validator.web import create_app

    # The job runs in the worker's own process, which imports this module by name.
    target = f"{__name__}:spark_analysis"
    app = create_app(app_config(tmp_path / "data", ANALYSIS_TARGET=target))
    try:
        with worker(app):  # the web only enqueues
            client = app.test_client()
            page = client.get("/").get_data(as_text=True)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            path, _ = clip("clean")
            # Encoded here, in memory: werkzeug's test client spools a large body to a
            # temporary file it leaves open (as tests/test_web_api.py's upload does).
            video = FileStorage(io.BytesIO(path.read_bytes()), "clean.mp4")
            boundary, body = encode_multipart({"video": video})
            resp = client.post(
                "/checks",
                data=body,
                content_type=f"multipart/form-data; boundary={boundary}",
                headers={"X-Requested-With": "XMLHttpRequest", "X-CSRF-Token": csrf},
            )
            assert resp.status_code == 200, resp.get_data(as_text=True)
            check_id = resp.json["id"]
            deadline = time.monotonic() + 120
            while (status := client.get(f"/checks/{check_id}/status.json").json)["status"] not in (
                "done",
                "failed",
            ):
                assert time.monotonic() < deadline, "the check did not finish"
                time.sleep(0.1)
            assert status["status"] == "done", status
            en = client.get(f"/checks/{check_id}?lang=en").get_data(as_text=True)
            zh = client.get(f"/checks/{check_id}?lang=zh").get_data(as_text=True)
    finally:
        app.extensions["appeal"].close()
    assert "A spark at" in en and "Spark seen" in en
    assert "看到火花" in zh
