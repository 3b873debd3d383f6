"""The form's resumable uploads over HTTP: the core of tus 1.0 (https://tus.io).

    POST   /uploads        Upload-Length: n (Upload-Metadata: filename <base64>)
                           -> 201, Location, Upload-Offset: 0, {"id", "url", "offset", ...}
    HEAD   /uploads/<id>   -> 204, Upload-Offset, Upload-Length (Cache-Control: no-store)
    PATCH  /uploads/<id>   Upload-Offset: k, Content-Type: application/offset+octet-stream,
                           the chunk as the body -> 204, Upload-Offset: k + len
                           (another offset than the server's -> 409 with the server's)
    DELETE /uploads/<id>   -> 204 (cancelled)

A finished upload becomes (part of) a check by its id: ``POST /checks`` with one
``upload`` field per video (``form.upload``). Uploads belong to the browser session
that made them, like its checks: another session gets 404. Every write needs the
form's CSRF token (``X-CSRF-Token``); creating one counts as a form post for the rate
limit, appending does not (a 4 GB video is 512 chunks). The bytes and the offset are
kept by ``validator.jobs.partial``; this module only translates HTTP.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import ClientDisconnected

from validator.jobs import partial
from validator.jobs.partial import PartialUploads
from validator.web.errors import BadRequest, UnsupportedMediaType, error_response
from validator.web.form import _check_csrf, _session_id
from validator.web.limits import refuse_if_over
from validator.web.params import whole_number
from validator.web.uploads import translate_partial

bp = Blueprint("resumable", __name__)

TUS_VERSION = "1.0.0"
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
# The chunk size the page's script uses (app.js reads it from the creation's answer).
CLIENT_CHUNK_BYTES = 8 << 20


def uploads() -> PartialUploads:
    found: PartialUploads = current_app.extensions["appeal"].partial_uploads
    return found


def limits() -> tuple[int, int, int]:
    """(largest video, largest chunk, open uploads per session), from the settings."""
    cfg = current_app.extensions["appeal"].settings
    return cfg.max_upload_mb << 20, cfg.upload_chunk_mb << 20, cfg.upload_max_open


@bp.before_request
def guard_writes() -> None:
    """CSRF on every write, checked before any body is read; creations are form posts."""
    if request.method in ("POST", "PATCH", "DELETE"):
        if request.method == "POST":
            svc = current_app.extensions["appeal"]
            svc.form_posts.hit(refuse_if_over(svc.form_posts, "form posts"))
        _check_csrf()


def _int_header(name: str) -> int:
    number = whole_number(request.headers.get(name))
    if number is None:
        raise BadRequest(f"{name}: a whole number of bytes is required", details={"header": name})
    return number


def _filename() -> str | None:
    """The ``filename`` of tus's Upload-Metadata (``key base64, key base64``)."""
    for pair in request.headers.get("Upload-Metadata", "").split(","):
        key, _, value = pair.strip().partition(" ")
        if key == "filename" and value:
            try:
                return base64.b64decode(value, validate=True).decode("utf-8")[:255]
            except (binascii.Error, UnicodeDecodeError):
                return None
    return None


def _state(resp: Response, part: partial.Partial) -> Response:
    resp.headers["Upload-Offset"] = str(part.offset)
    resp.headers["Upload-Length"] = str(part.length)
    resp.headers["Tus-Resumable"] = TUS_VERSION
    resp.headers["Cache-Control"] = "no-store"  # tus: HEAD answers must not be cached
    return resp


@bp.post("/uploads")
def create() -> Response:
    max_bytes, max_chunk, max_open = limits()
    length = _int_header("Upload-Length")
    if length == 0:
        raise BadRequest("Upload-Length: the file is empty (0 bytes); upload the recording")
    try:
        cfg = current_app.extensions["appeal"].settings
        part = uploads().create(
            _session_id(), length, _filename(), max_bytes=max_bytes, max_open=max_open,
            max_open_total=cfg.upload_max_open_total,
            max_total_bytes=cfg.upload_max_total_mb << 20,
        )  # fmt: skip
    except partial.PartialError as e:
        raise translate_partial(e, "") from e
    url = url_for("resumable.state", upload_id=part.id)
    chunk = min(CLIENT_CHUNK_BYTES, max_chunk)
    body = {"id": part.id, "url": url, "offset": 0, "length": length,
            "chunk_bytes": chunk, "max_chunk_bytes": max_chunk}  # fmt: skip
    resp = _state(jsonify(body), part)
    resp.status_code = 201
    resp.headers["Location"] = url
    return resp


@bp.route("/uploads/<upload_id>", methods=["HEAD"])
def state(upload_id: str) -> Response:
    try:  # a HEAD has no body: nothing to be cut short
        part = uploads().get(_session_id(), upload_id)
    except partial.PartialError as e:
        raise translate_partial(e, upload_id) from e
    return _state(Response(status=204), part)


@bp.route("/uploads/<upload_id>", methods=["PATCH"])
def append(upload_id: str) -> Response:
    _, max_chunk, _ = limits()
    if request.mimetype != CHUNK_CONTENT_TYPE:
        raise UnsupportedMediaType(
            f"a chunk is sent as {CHUNK_CONTENT_TYPE}", details={"header": "Content-Type"}
        )
    offset = _int_header("Upload-Offset")
    if request.content_length is None:
        raise BadRequest(
            "Content-Length: required for a chunk", details={"header": "Content-Length"}
        )
    try:
        part = uploads().append(
            _session_id(), upload_id, offset, request.content_length, request.stream,
            max_chunk=max_chunk,
        )  # fmt: skip
    except partial.OffsetMismatch as e:
        # tus: the 409 carries the server's offset, as a HEAD would.
        resp = error_response(translate_partial(e, upload_id))
        resp.headers["Upload-Offset"] = str(e.offset)
        resp.headers["Tus-Resumable"] = TUS_VERSION
        return resp
    except partial.PartialError as e:
        raise translate_partial(e, upload_id) from e
    except ClientDisconnected as e:  # werkzeug: the body ended before its Content-Length
        now = uploads().get(_session_id(), upload_id).offset
        raise translate_partial(partial.CutShort(now), upload_id) from e
    return _state(Response(status=204), part)


@bp.route("/uploads/<upload_id>", methods=["DELETE"])
def cancel(upload_id: str) -> Response:
    try:
        uploads().get(_session_id(), upload_id)
        uploads().discard(_session_id(), upload_id)
    except partial.PartialError as e:
        raise translate_partial(e, upload_id) from e
    return Response(status=204)


__all__ = ["bp", "uploads"]
