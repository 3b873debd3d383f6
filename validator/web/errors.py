"""The one place where errors become HTTP answers.

Under ``/api/`` (and for the form's own XHR/JSON requests) every error is one JSON
body, Datasette-style: ``{"error": {"code", "message", "details"}}`` with the
status below. The form's pages get an HTML error page with the same message.
Tracebacks never reach a client: unexpected exceptions are logged and answered
``500 internal_error``.

    code                    status  raised by
    bad_request             400     a missing or malformed field or header
    usage / bad_case        400     the validator's UsageError / CaseError (case JSON)
    bad_config              400     an unknown policy name
    callback_url_blocked    400     a callback_url whose host is not public (SSRF)
    csrf_failed             400     the form's CSRF token is missing or wrong
    unauthorized            401     no, unknown or revoked API key
    not_found               404     no such route, check or file (or another tenant's)
    method_not_allowed      405
    check_not_done          409     a prediction for a check that has not finished
    upload_conflict         409     a resumable upload's chunk at another offset than the
                                    server's (``Upload-Offset`` says the server's), one sent
                                    while another is being written, or a check of an
                                    unfinished upload
    payload_too_large       413     the upload is over MAX_UPLOAD_MB, a JSON body over the
                                    case limit, a form with too many parts, or a resumable
                                    upload's chunk over UPLOAD_CHUNK_MB or past its length
    unsupported_media_type  415     the upload is not a video container we know
    empty_file              422     the upload is empty (InputError family: 422)
    idempotency_conflict    422     an Idempotency-Key reused with a different body
    recording_not_found     404     no such recording session, or a wrong page token
    chunk_out_of_range      400     a chunk number past RECORDING_MAX_CHUNKS
    chunk_hash_mismatch     422     a chunk's bytes do not match its X-Chunk-SHA256
    chunk_conflict          409     a chunk number received before with other bytes
    chunks_missing          409     a stop while chunks are still missing (resend them)
    recording_closed        409     a new chunk after the stop
    chunk_too_large         413     a chunk over RECORDING_MAX_CHUNK_MB
    recording_too_large     413     the chunks together over MAX_UPLOAD_MB
    too_many_recordings     429     open recording sessions at RECORDING_MAX_OPEN
    rate_limited            429     too many failed keys or form posts from one address
                                    (with Retry-After), or too many open resumable uploads
    internal_error          500     a bug; logged with its traceback
    unavailable             503     the database cannot be reached, or no room for another
                                    resumable upload (the service's caps, the free disk)
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from validator.errors import InputError, UsageError, ValidatorError

log = logging.getLogger(__name__)


class HttpError(ValidatorError):
    """A ValidatorError that carries its HTTP status."""

    status = 400


class BadRequest(HttpError):
    code = "bad_request"


class CallbackUrlBlocked(HttpError):
    code = "callback_url_blocked"


class CsrfFailed(HttpError):
    code = "csrf_failed"


class Unauthorized(HttpError):
    code = "unauthorized"
    status = 401


class NotFound(HttpError):
    code = "not_found"
    status = 404


class MethodNotAllowed(HttpError):
    code = "method_not_allowed"
    status = 405


class CheckNotDone(HttpError):
    code = "check_not_done"
    status = 409


class UploadConflict(HttpError):
    code = "upload_conflict"
    status = 409


class PayloadTooLarge(HttpError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(HttpError):
    code = "unsupported_media_type"
    status = 415


class IdempotencyConflict(HttpError):
    code = "idempotency_conflict"
    status = 422


class RateLimited(HttpError):
    code = "rate_limited"
    status = 429


class InternalError(HttpError):
    code = "internal_error"
    status = 500


class Unavailable(HttpError):
    code = "unavailable"
    status = 503


HTTP_ERRORS: tuple[type[HttpError], ...] = (
    BadRequest,
    CallbackUrlBlocked,
    CsrfFailed,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    CheckNotDone,
    UploadConflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyConflict,
    RateLimited,
    InternalError,
    Unavailable,
)
_BY_STATUS = {400: BadRequest, 404: NotFound, 405: MethodNotAllowed, 413: PayloadTooLarge}
_BY_STATUS.update({415: UnsupportedMediaType, 401: Unauthorized, 503: Unavailable})
_BY_STATUS[429] = RateLimited

# Codes a failed check's ``error`` can carry besides the validator's InputError codes.
JOB_ERROR_CODES = (
    "job_timeout",
    "job_crashed",
    "job_abandoned",
    "job_out_of_memory",
    "internal_error",
)


def http_status(err: ValidatorError) -> int:
    """The HTTP status of any error of the tree."""
    if isinstance(err, HttpError):
        return err.status
    if isinstance(getattr(err, "http_status", None), int):  # the recordings' errors
        return int(err.http_status)  # type: ignore[attr-defined]
    if isinstance(err, UsageError):
        return 400
    if isinstance(err, InputError):
        return 422
    return 500


def _from_http(e: HTTPException) -> HttpError:
    status = e.code or 500
    cls = _BY_STATUS.get(status)
    if status == 413:
        return _too_large()
    if status == 405:
        return MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}",
            details={"allowed": sorted(e.valid_methods or ())},  # type: ignore[attr-defined]
        )
    if status == 404:
        return NotFound(f"nothing at {request.path}")
    if cls is None:
        # Any other HTTP error keeps its status but gets a documented code.
        err: HttpError = (BadRequest if status < 500 else InternalError)(e.description or e.name)
        err.status = status
        return err
    return cls(e.description or e.name)


def _too_large() -> PayloadTooLarge:
    """Which limit a 413 from werkzeug met: a JSON route's (the case limit), the
    number of form parts (MAX_FORM_PARTS), or the upload's."""
    from validator.web.uploads import JSON_BODY_ENDPOINTS

    if request.endpoint in JSON_BODY_ENDPOINTS:
        from validator.predict.case import MAX_CASE_BYTES_ENV, max_case_bytes

        limit = max_case_bytes()
        return PayloadTooLarge(
            f"the JSON body is larger than this service accepts ({limit:,} bytes, the "
            f"case limit; setting {MAX_CASE_BYTES_ENV})",
            details={"max_bytes": limit},
        )
    length = request.content_length
    if length is not None and length <= (request.max_content_length or length):
        # Within the size limit, so werkzeug's parser stopped at the parts' limits.
        parts = request.max_form_parts
        return PayloadTooLarge(
            f"the form has more than {parts} parts, or a field (not a file) larger than "
            f"{request.max_form_memory_size or 0:,} bytes; send the video, the case and "
            "the documented fields only",
            details={"max_parts": parts},
        )
    # The video's limit, not MAX_CONTENT_LENGTH (which adds room for the form fields).
    mb = current_app.extensions["appeal"].settings.max_upload_mb
    return PayloadTooLarge(
        f"the upload is larger than this service accepts ({mb} MB). "
        "Do not trim or re-encode the evidence: either breaks completeness or "
        "timeliness, and the platform judges the original file. Check it with the "
        "command line (appeal-validator check, no size limit), or ask the operator "
        "to raise APPEAL_VALIDATOR_MAX_UPLOAD_MB.",
        details={"max_bytes": mb << 20},
    )


def wants_json() -> bool:
    """JSON for the API and for the form's scripts; HTML for people at the form."""
    if request.path.startswith("/api/"):
        return True
    if request.blueprint == "record" and request.endpoint not in ("record.page", "record.new_page"):
        return True  # the record page's script calls (chunks, stop, status)
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    if request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(err: ValidatorError, status: int | None = None) -> Response:
    """The JSON error body (or the HTML error page) for ``err``."""
    from validator.web.i18n import current_lang, error_text, labels

    status = status or http_status(err)
    body = err.to_dict()
    if request.path.startswith("/api/"):
        resp = jsonify({"error": body})
    elif wants_json():
        # The form's script shows ``localized``: the merchant's words in the page's
        # language (the code and the English message stay for support).
        resp = jsonify({"error": {**body, "localized": error_text(body, current_lang())}})
    else:
        lang = current_lang()
        resp = Response(
            render_template("error.html", error=body, status=status, t=labels(lang),
                            lang=lang, message=error_text(body, lang)),
            mimetype="text/html",
        )  # fmt: skip
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="appeal-validator"'
    if status == 429 and "retry_after_s" in err.details:
        resp.headers["Retry-After"] = str(err.details["retry_after_s"])
    return resp


def _validator_error(e: ValidatorError) -> Response:
    return error_response(e)


def _http_error(e: HTTPException) -> Response:
    err = _from_http(e)
    resp = error_response(err, err.status)
    if err.status == 405 and getattr(e, "valid_methods", None):
        resp.headers["Allow"] = ", ".join(e.valid_methods)  # type: ignore[attr-defined]
    return resp


def _unexpected(e: Exception) -> Response:
    if isinstance(e, HTTPException):  # Flask routes these here when no handler matched
        return _http_error(e)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=e)
    return error_response(
        InternalError("an internal error occurred; it was logged. Try again later."), 500
    )


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""
    app.register_error_handler(ValidatorError, _validator_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def codes() -> dict[str, Any]:
    """Every error code the service can answer with (documented in docs/api.md)."""
    from validator import errors as tree

    out: dict[str, Any] = {}
    for obj in vars(tree).values():
        if isinstance(obj, type) and issubclass(obj, ValidatorError):
            out[obj.code] = obj
    for cls in HTTP_ERRORS:
        out[cls.code] = cls
    from validator.jobs.recordings import RECORDING_ERRORS

    for rec in RECORDING_ERRORS:
        out[rec.code] = rec
    for code in JOB_ERROR_CODES:
        out.setdefault(code, None)
    return out
