"""The report is defined once (validator/report/model.py): the JSON Schema, the OpenAPI
components and the reports the code writes all follow from that model, or a test fails."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests._clips import write_clip
from tests._media import REALDATA, ROOT
from validator.cases import check_case
from validator.report.build import schema
from validator.report.model import (
    ReportInvalid,
    openapi_components,
    report_schema,
    validate_case_report,
    validate_report,
)
from validator.web.api import openapi_document

BOX = REALDATA / "opencv-doc" / "box.mp4"  # real footage: a parcel turned, one face held


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A case report as ``check --out`` writes it (thumbnails and all), of real footage."""
    if not BOX.is_file():
        pytest.skip(f"{BOX} is missing (../shared/realdata)")
    out = tmp_path_factory.mktemp("report-model") / "out"
    check_case(None, [BOX], out)
    return json.loads((out / "report.json").read_text("utf-8"))


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = json.loads((ROOT / "schemas" / "report.schema.json").read_text("utf-8"))
    assert committed == report_schema(), (
        "schemas/report.schema.json is stale: python -m validator.report.model > "
        "schemas/report.schema.json"
    )


def test_a_written_report_follows_the_model_and_its_schema(written: dict[str, Any]) -> None:
    validate_case_report(written)
    (video,) = written["videos"]
    validate_report(video)
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(video, schema())
    assert video["thumbnails"]["files"], "the clip's pictures are in the report it validates"


@pytest.mark.parametrize(
    ("where", "change"),
    [
        pytest.param("top", lambda r: r.update(surprise=1), id="a-key-the-model-lacks"),
        pytest.param("top", lambda r: r.pop("faces"), id="a-key-the-model-needs"),
        pytest.param("top", lambda r: r.update(verdict="ok"), id="a-verdict-not-in-the-enum"),
        pytest.param(
            "top",
            lambda r: r["requirements"]["validity"].update(reasons=[]),
            id="a-verdict-without-a-reason",
        ),
        pytest.param(
            "top",
            lambda r: r["events"].append({"kind": "no_such_kind", "t_s": 1.0}),
            id="an-undeclared-event-kind",
        ),
        pytest.param(
            "top", lambda r: r["file"].update(sha256="XYZ"), id="a-digest-that-is-not-hex"
        ),
    ],
)
def test_the_model_refuses_what_the_schema_does_not_say(
    written: dict[str, Any], where: str, change: Any
) -> None:
    video = copy.deepcopy(written["videos"][0])
    change(video)
    with pytest.raises(ReportInvalid):
        validate_report(video)
    # The generated JSON Schema refuses it as well: both come from the same model.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(video, schema())


def test_a_report_without_pictures_follows_the_model(tmp_path: Path) -> None:
    """A clip too short to show anything: no thumbnails, reasons on every requirement."""
    clip = write_clip(tmp_path / "clip.mp4", frames=60)
    check_case(None, [clip], tmp_path / "out")
    written = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    validate_case_report(written)
    jsonschema.validate(written["videos"][0], schema())
    assert "thumbnails" not in written["videos"][0]


def test_the_api_documents_the_report_from_the_model() -> None:
    doc = openapi_document()
    components = doc["components"]["schemas"]
    for name, generated in openapi_components().items():
        assert components[name] == generated, name
    # Every reference in the document resolves (the report's point into components).
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert "#/components/schemas/Reason" in refs
    for ref in refs:
        kind, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in doc["components"][kind], ref


def test_the_report_s_schema_is_not_kept_by_hand_anywhere() -> None:
    assert not (ROOT / "validator" / "report" / "report.schema.json").exists()
    text = (ROOT / "validator" / "web" / "openapi.json").read_text("utf-8")
    assert '"Report"' not in json.dumps(json.loads(text)["components"]["schemas"])


def test_the_schema_path_in_the_docs_exists() -> None:
    for doc in ("README.md", "docs/api.md"):
        assert "schemas/report.schema.json" in (ROOT / doc).read_text("utf-8"), doc
    assert Path(ROOT / "schemas" / "report.schema.json").is_file()
