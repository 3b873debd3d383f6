"""The OpenAPI document matches what the service does (schemathesis, in-process WSGI)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from _service import app_config, worker
from flask import Flask
from hypothesis import HealthCheck, given, settings

from validator.web import create_app

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a test dependency")
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

FAKE = "_service:fake_analysis"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    # schemathesis' ignored_auth check sends an unknown key after each success (15 for
    # GET /checks alone): the module's one client address would pass the failed-key
    # limit and get 429s. The limit has its own tests (test_web_limits.py).
    app = create_app(app_config(tmp_path_factory.mktemp("openapi") / "data",
                                ANALYSIS_TARGET=FAKE, MAX_UPLOAD_MB=1,
                                FAILED_KEYS_PER_MIN=10_000))  # fmt: skip
    with worker(app):  # the web only enqueues
        yield app
    app.extensions["appeal"].close()


@pytest.fixture(scope="module")
def auth(app: Flask) -> dict[str, str]:
    _, key = app.extensions["appeal"].store.create_key("schemathesis")
    return {"Authorization": f"Bearer {key}"}


OPERATIONS = [
    ("/health", "GET"),
    ("/openapi.json", "GET"),
    ("/checks", "GET"),
    ("/checks", "POST"),
    ("/checks/{id}", "GET"),
    ("/checks/{id}", "DELETE"),
    ("/checks/{id}/thumbnails/{name}", "GET"),
    ("/predictions", "POST"),
]


@pytest.mark.parametrize(
    ("path", "method"), [pytest.param(p, m, id=f"{m} {p}") for p, m in OPERATIONS]
)
def test_api_conforms(app: Flask, auth: dict[str, str], path: str, method: str) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, which does not
    # run under pytest 9 yet; the checks are the same (call_and_validate).
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method]
    # A schema cannot say "a real video", "a case whose times parse" or "a cursor this
    # service gave": random bytes are rightly 415, a random case or cursor rightly 400.
    # Every other check runs.
    excluded = [positive_data_acceptance] if method == "POST" or path == "/checks" else []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=auth, excluded_checks=excluded)

    run()


def test_the_document_is_served_and_valid(app: Flask) -> None:
    from jsonschema import Draft202012Validator

    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    for sub in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(sub)  # each schema is valid JSON Schema
    assert set(doc["paths"]) == {
        "/health", "/openapi.json", "/checks", "/checks/{id}",
        "/checks/{id}/thumbnails/{name}", "/predictions", "/recordings", "/recordings/{id}",
    }  # fmt: skip
    # Flask's <check_id> and <rec_id> are the document's {id}.
    routes = {re.sub(r"<(\w+_)?id>", "{id}", r.rule) for r in app.url_map.iter_rules()
              if r.rule.startswith("/api/v1")}  # fmt: skip
    documented = {"/api/v1" + p.replace("{name}", "<name>") for p in doc["paths"]}
    assert routes == documented


def test_real_responses_conform(app: Flask, auth: dict[str, str]) -> None:
    """A finished check, its thumbnail, a prediction: validated against the document."""
    import io
    import time

    client = app.test_client()
    mp4 = b"\0\0\0\x18ftypmp42" + b"\0" * 200
    case = '{"return": {"signed_at": "2026-11-20T14:00"}}'
    resp = client.post("/api/v1/checks", headers=auth,
                       data={"video": (io.BytesIO(mp4), "a.mp4"), "case": case})  # fmt: skip
    check_id = resp.json["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/checks/{check_id}", headers=auth).json["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    calls = [
        ("/checks", "GET", {}, None),
        ("/checks/{id}", "GET", {"id": check_id}, None),
        ("/checks/{id}/thumbnails/{name}", "GET", {"id": check_id, "name": "v0-face-1.jpg"}, None),
        ("/predictions", "POST", {}, {"case": {"claim": {"type": "other"}}, "check_id": check_id}),
        ("/checks/{id}", "DELETE", {"id": check_id}, None),
    ]
    for path, method, params, body in calls:
        kwargs = {"path_parameters": params}
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
        response = schema[path][method].Case(**kwargs).call_and_validate(headers=auth)
        assert response.status_code in (200, 204), (path, response.status_code)


def test_the_documented_413_is_the_default_upload_limit() -> None:
    """The 413 of POST /checks names the default limit the settings have (4 GiB since
    issue 12), as docs/api.md's example does (test_web_api)."""
    import re

    from validator.jobs.settings import resolve
    from validator.web.api import openapi_document

    default = resolve({"DATA_DIR": "/nonexistent"}).max_upload_mb
    text = openapi_document()["paths"]["/checks"]["post"]["responses"]["413"]["description"]
    shown = re.search(r"by default (\d+): `details.max_bytes` (\d+)", text)
    assert shown is not None, text
    assert (int(shown.group(1)), int(shown.group(2))) == (default, default << 20)
