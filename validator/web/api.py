"""API v1 (JSON) for ticket systems; documented in ``openapi.json`` and docs/api.md."""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import tempfile
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from sqlalchemy import text as sql_text
from werkzeug.exceptions import RequestEntityTooLarge

from validator import __version__
from validator.errors import CaseError
from validator.jobs.tables import Check, Delivery
from validator.jobs.webhooks import API_PREFIX, check_links
from validator.report.model import openapi_components
from validator.web.errors import BadRequest, CheckNotDone, NotFound, Unauthorized, Unavailable
from validator.web.limits import refuse_if_over
from validator.web.uploads import JSON_BODY_ENDPOINTS, create_check, parse_case

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)

PUBLIC = {"api.health", "api.openapi"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp", "image/gif"}


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: a data file in the package, with the report's components
    generated from its model (``validator.report.model.openapi_components``)."""
    text = resources.files("validator.web").joinpath("openapi.json").read_text("utf-8")
    doc = json.loads(text)
    doc["info"]["version"] = __version__
    # The report's components come from its model, never from a copy that could drift.
    schemas = doc["components"]["schemas"]
    generated = openapi_components()
    clash = sorted(set(schemas) & set(generated))
    if clash:
        raise RuntimeError(f"openapi.json defines the report's components {clash} by hand")
    schemas.update(generated)
    return doc


@bp.before_request
def limit_json_bodies() -> None:
    # Before anything reads the body: werkzeug then refuses a longer Content-Length at
    # once (413) and stops reading a chunked body one byte past the limit (where it
    # would silently cut it; the route answers 413 for that byte).
    if request.endpoint in JSON_BODY_ENDPOINTS:
        from validator.predict.case import max_case_bytes

        request.max_content_length = max_case_bytes() + 1


@bp.before_request
def authenticate() -> None:
    if request.endpoint in PUBLIC:
        return
    svc = current_app.extensions["appeal"]
    # An address over its limit of failed keys gets no key looked at, the good one
    # neither: a guess that hit would otherwise stand out from the 429s of the misses.
    address = refuse_if_over(svc.failed_keys, "unknown API keys")
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "send an API key as 'Authorization: Bearer <key>' "
            "(make one with: appeal-validator keys create TENANT)"
        )
    found = svc.authenticate(key.strip())
    if found is None:
        svc.failed_keys.hit(address)  # only a key that was looked up and failed counts
        raise Unauthorized("the API key is unknown or revoked")
    g.api_key, g.tenant = found


def _check(check_id: str) -> Check:
    """The caller's check; 404 for a malformed id and for another tenant's check alike."""
    row = None
    if _UUID.match(check_id):
        row = current_app.extensions["appeal"].store.get(check_id, tenant_id=g.tenant.id)
    if row is None:
        raise NotFound(f"no check {check_id!r}", details={"id": check_id})
    return row


def check_resource(row: Check, deliveries: list[Delivery] | None = None) -> dict[str, Any]:
    """A check as GET /checks/{id} shows it."""
    out = row.to_dict()
    if deliveries is None:
        deliveries = current_app.extensions["appeal"].store.deliveries(row.id)
    out["webhook_deliveries"] = [d.to_dict() for d in deliveries]
    out["links"] = links(row)
    return out


def links(row: Check) -> dict[str, Any]:
    """The check's own URL and its pictures', as the webhook's ``data.check.links``."""
    return check_links(row, url_for("api.get_check", check_id=row.id))


def storage_writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (the uploads' DATA_DIR/tmp)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Public, so it says nothing of any tenant (no counts of checks): is the database
    reachable, can uploads be stored. 503 with ``degraded`` when they cannot, so a load
    balancer takes the instance out; 503 ``unavailable`` when the database is down."""
    svc = current_app.extensions["appeal"]
    try:
        with svc.store.session() as s:
            s.execute(sql_text("SELECT 1"))
    except Exception as e:  # the database is down or locked out
        raise Unavailable(
            "the job database cannot be reached", details={"type": type(e).__name__}
        ) from e
    writable = storage_writable(svc.tmp_dir)
    body = {
        "status": "ok" if writable else "degraded",
        "version": __version__,
        "database": "ok",
        "storage": "ok" if writable else "not_writable",
        "broker": "redis" if svc.settings.broker_url else "embedded",
    }
    return jsonify(body), 200 if writable else 503


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.post("/checks")
def create() -> tuple[Response, int, dict[str, str]]:
    case_text = request.form.get("case")
    if case_text is None and "case" in request.files:
        from validator.predict.case import max_case_bytes

        # One byte past the limit: parse_case then names the limit, not a cut-off JSON.
        raw = request.files["case"].read(max_case_bytes() + 1)
        try:
            case_text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CaseError("case: not UTF-8 text", details={"field": "case"}) from e
    case = parse_case(case_text)
    new = create_check(
        request.files.get("video"),
        tenant_id=g.tenant.id,
        case=case,
        policy=request.form.get("policy"),
        callback_url=request.form.get("callback_url"),
        idempotency_key=request.headers.get("Idempotency-Key"),
        api_key_id=g.api_key.id,
        key_callback_url=g.api_key.callback_url,
    )
    body = new.row.to_dict(with_report=False)
    headers = {"Location": url_for("api.get_check", check_id=new.row.id)}
    if not new.created:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(body), 202, headers


LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100  # a page of summaries stays small: no reports, no deliveries


def _encode_cursor(row: Check) -> str:
    """An opaque cursor: the last listed check's (created_at, id), base64url."""
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        at, _, check_id = raw.partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not _UUID.match(check_id):
            raise ValueError(raw)
        when = when.astimezone(UTC)  # OverflowError at the ends of the calendar
    # binascii.Error and UnicodeDecodeError are ValueErrors
    except (ValueError, OverflowError) as e:
        raise BadRequest(
            "cursor: not a cursor this service gave; follow links.next of the previous page",
            details={"field": "cursor"},
        ) from e
    return when, check_id


def _limit(text: str | None) -> int:
    if text is None:
        return LIST_LIMIT_DEFAULT
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= LIST_LIMIT_MAX:
        raise BadRequest(
            f"limit: a whole number from 1 to {LIST_LIMIT_MAX}",
            details={"field": "limit", "max": LIST_LIMIT_MAX},
        )
    return int(text)


@bp.get("/checks")
def list_checks() -> Response:
    """The caller's tenant's checks, newest first, a page at a time (cursor)."""
    limit = _limit(request.args.get("limit"))
    cursor = request.args.get("cursor")
    after = _decode_cursor(cursor) if cursor is not None else None
    store = current_app.extensions["appeal"].store
    # One more than the page: whether a next page exists, without a count query.
    rows = store.tenant_checks(g.tenant.id, limit=limit + 1, after=after)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _encode_cursor(page[-1]) if more else None
    args: dict[str, Any] = {"limit": limit} if "limit" in request.args else {}
    self_args = {**args, "cursor": cursor} if cursor else args
    body = {
        "items": [{**row.to_dict(with_report=False), "links": links(row)} for row in page],
        "next_cursor": next_cursor,
        "links": {
            "self": url_for("api.list_checks", **self_args),
            "next": url_for("api.list_checks", **args, cursor=next_cursor) if more else None,
        },
    }
    return jsonify(body)


@bp.get("/checks/<check_id>")
def get_check(check_id: str) -> Response:
    # The hot path of every ticket system's polling: one transaction for both reads.
    found = None
    if _UUID.match(check_id):
        store = current_app.extensions["appeal"].store
        found = store.get_with_deliveries(check_id, tenant_id=g.tenant.id)
    if found is None:
        raise NotFound(f"no check {check_id!r}", details={"id": check_id})
    return jsonify(check_resource(*found))


@bp.delete("/checks/<check_id>")
def delete_check(check_id: str) -> tuple[str, int]:
    row = _check(check_id)
    current_app.extensions["appeal"].delete(row)
    return "", 204


@bp.get("/checks/<check_id>/thumbnails/<name>")
def thumbnail(check_id: str, name: str) -> Response:
    row = _check(check_id)
    path = current_app.extensions["appeal"].storage.derived_file(str(row.tenant_id), row.id, name)
    mime = mimetypes.guess_type(name)[0]
    if path is None or mime not in IMAGE_TYPES:
        raise NotFound(f"no thumbnail {name!r} for check {check_id}", details={"name": name})
    return image_response(path, mime)


def image_response(path: Path, mime: str) -> Response:
    """A small derived picture. Read whole (thumbnails are a few KB), so no file handle
    outlives the request whatever the server or test client does with the body."""
    resp = Response(path.read_bytes(), mimetype=mime)
    resp.cache_control.private = True
    resp.cache_control.max_age = 3600
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.post("/predictions")
def prediction() -> Response:
    from validator.predict.case import decode_json, max_case_bytes

    raw = request.get_data()  # at most the limit and one byte (limit_json_bodies)
    if len(raw) > max_case_bytes():
        raise RequestEntityTooLarge()
    # The case limits besides the size: depth, numbers.
    body = decode_json(raw, "body") if request.is_json else None
    if not isinstance(body, dict):
        raise BadRequest(
            'send a JSON object {"case": {...}, "check_id": ...} with '
            "Content-Type: application/json",
            details={"field": "body"},
        )
    case = body.get("case")
    if not isinstance(case, dict):
        raise CaseError("case: expected the case as a JSON object", details={"field": "case"})
    reports: list[dict[str, Any]] = []
    check_id = body.get("check_id")
    if check_id is not None:
        if not isinstance(check_id, str):
            raise BadRequest("check_id: expected a string", details={"field": "check_id"})
        row = _check(check_id)
        if row.status != "done" or row.report is None:
            raise CheckNotDone(
                f"check {check_id} is {row.status}; predict after it is done",
                details={"id": check_id, "status": row.status},
            )
        reports.append(row.report)
    now = body.get("now")
    when = None
    if now is not None:
        from validator.timeutil import parse_time

        if not isinstance(now, str):
            raise BadRequest("now: expected an ISO 8601 time", details={"field": "now"})
        when = parse_time(now, field="now")
    from validator.predict import load_case, predict

    return jsonify(predict(load_case(case), reports, now=when).to_dict())


@bp.post("/recordings")
def create_recording() -> tuple[Response, int, dict[str, str]]:
    """Open a recording session; its ``links.record`` is the page to send to the
    warehouse (the session's token rides in the URL fragment)."""
    from validator.web.record import open_session, page_link, session_resource

    if request.is_json:
        from validator.predict.case import decode_json, max_case_bytes

        raw = request.get_data()  # at most the case limit and one byte (limit_json_bodies)
        if len(raw) > max_case_bytes():
            raise RequestEntityTooLarge()
        # The case loader's limits (depth, 64-bit numbers), as for /predictions.
        body = decode_json(raw, "body") if raw.strip() else {}
        if not isinstance(body, dict):
            raise BadRequest("send a JSON object", details={"field": "body"})
        case_value = body.get("case")
        if case_value is not None and not isinstance(case_value, dict):
            raise CaseError("case: expected a JSON object", details={"field": "case"})
        case_text = json.dumps(case_value) if case_value is not None else None
        policy, callback_url = body.get("policy"), body.get("callback_url")
    else:
        case_text = request.form.get("case")
        policy, callback_url = request.form.get("policy"), request.form.get("callback_url")
    for name, value in (("policy", policy), ("callback_url", callback_url)):
        if value is not None and not isinstance(value, str):
            raise BadRequest(f"{name}: expected a string", details={"field": name})
    session, token = open_session(
        tenant_id=g.tenant.id,
        case=parse_case(case_text),
        policy=policy,
        callback_url=callback_url,
        key_callback_url=g.api_key.callback_url,
        api_key_id=g.api_key.id,
    )
    out = session_resource(session, api=True)
    out["links"]["record"] = page_link(session.id, token)
    return jsonify(out), 201, {"Location": out["links"]["self"]}


@bp.get("/recordings/<rec_id>")
def get_recording(rec_id: str) -> Response:
    from validator.jobs.recordings import RecordingNotFound
    from validator.web.record import recordings, session_resource

    session = recordings().get(rec_id)
    if session.tenant_id != g.tenant.id:
        raise RecordingNotFound(f"no recording {rec_id!r}", details={"id": rec_id})
    return jsonify(session_resource(session, api=True))
