"""Uploads: streamed to disk, sniffed by content, stored atomically, queued as a check.

Shared by the API and the form. werkzeug's multipart parser writes each file part
to a temporary file under ``<DATA_DIR>/tmp`` as it arrives (never the whole body
in memory); ``Storage.put_stream`` then copies it to its final place, hashing as
it goes. The client's filename is kept for display only.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any, BinaryIO

from flask import Request, current_app
from werkzeug.datastructures import FileStorage

from validator.errors import CaseError, EmptyFile
from validator.jobs.store import canonical_hash
from validator.jobs.tables import Check
from validator.jobs.webhooks import Blocked, check_destination, check_url
from validator.media.sniff import media_type as sniffed_type
from validator.web.errors import (
    BadRequest,
    CallbackUrlBlocked,
    IdempotencyConflict,
    PayloadTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger(__name__)

SNIFF_BYTES = 512
# Routes whose body is JSON: their limit is the case limit (``max_case_bytes``), not the
# upload's MAX_CONTENT_LENGTH (a 200 MiB body once cost /predictions 564 MB of memory).
JSON_BODY_ENDPOINTS = frozenset({"api.prediction", "api.create_recording"})
# Multipart parts a request may have: the API's four fields, the form's seven and the
# CSRF token, with room to spare (werkzeug's default is 1,000, each a spooled file).
MAX_FORM_PARTS = 32
_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class UploadRequest(Request):
    """File parts go to unnamed temporary files in DATA_DIR/tmp (same disk as the data)."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        tmp = current_app.extensions["appeal"].tmp_dir
        f = tempfile.TemporaryFile("wb+", dir=tmp)  # noqa: SIM115 (closed in close())
        # Kept here too: a part cut short by the size limit (413) never reaches
        # request.files, and werkzeug would leave its file open.
        self.__dict__.setdefault("_upload_files", []).append(f)
        return f

    def close(self) -> None:
        super().close()
        for f in self.__dict__.pop("_upload_files", []):
            f.close()


def parse_case(text: str | None) -> dict[str, Any] | None:
    """The case JSON text of a request -> a validated case (CaseError naming the field)."""
    if text is None or not text.strip():
        return None
    from validator.predict.case import decode_json

    # The case loader's limits (size, nesting, 64-bit numbers): json.loads alone raised
    # RecursionError or ValueError, a 500, for 5,000 levels or a 5,000-digit number.
    try:
        data = decode_json(text, "case")
    except CaseError as e:  # named as a request field, as before, not as a file
        details = {"field": "case", **{k: v for k, v in e.details.items() if k != "file"}}
        raise CaseError(e.message, details=details) from e
    if not isinstance(data, dict):
        raise CaseError(
            "case: expected a JSON object {...}",
            details={"field": "case", "expected": "an object"},
        )
    from validator.predict import load_case

    # A dict, never the text: load_case reads a *path* from a string not starting with {.
    return load_case(data)


def policy_digest(name: str | None) -> tuple[str, str]:
    """A shipped policy profile by name -> (name, digest). Never a path from a client."""
    from validator.policy import DEFAULT_POLICY, load_policy

    name = (name or "").strip() or DEFAULT_POLICY
    shipped = resources.files("validator.policies")
    if not _POLICY_NAME.match(name) or not shipped.joinpath(f"{name}.toml").is_file():
        names = sorted(p.name[:-5] for p in shipped.iterdir() if p.name.endswith(".toml"))
        raise BadRequest(
            f"policy: no shipped policy named {name!r}; use one of {names}",
            details={"field": "policy", "allowed": names},
        )
    return name, load_policy(name).digest


def callback(url: str | None) -> str | None:
    url = (url or "").strip() or None
    if url is None:
        return None
    if (why := check_url(url)) is not None:
        raise BadRequest(
            f"callback_url: {why}", details={"field": "callback_url", "value": url[:200]}
        )
    if current_app.extensions["appeal"].settings.webhook_allow_private:
        return url
    try:
        # Refused now, not only at delivery, where the client would see it late, as a
        # failed delivery. Each attempt checks again: DNS answers change.
        check_destination(url)
    except (Blocked, OSError) as e:
        # One message for "resolves to a private address" and "does not resolve", and
        # never the address: either would map the service's internal DNS for a client.
        raise CallbackUrlBlocked(
            "callback_url: the host must resolve to public internet addresses only; "
            "loopback, private, link-local and cloud metadata addresses are refused",
            details={"field": "callback_url", "value": url[:200]},
        ) from e
    return url


@dataclass
class NewCheck:
    row: Check
    created: bool  # False: an Idempotency-Key replay of an existing check


def create_check(
    file: FileStorage | None,
    *,
    tenant_id: int,
    case: dict[str, Any] | None,
    policy: str | None = None,
    callback_url: str | None = None,
    idempotency_key: str | None = None,
    api_key_id: str | None = None,
    key_callback_url: str | None = None,
    web_session: str | None = None,
) -> NewCheck:
    """Store the upload and queue its check (or return the check an idempotent retry made).

    The check keeps the callback URL its webhook goes to: the request's ``callback_url``,
    else the key's (``key_callback_url``), so the check shows the one in effect.
    """
    import uuid

    svc = current_app.extensions["appeal"]
    if file is None or not isinstance(file, FileStorage):
        raise BadRequest(
            "video: no file; send the video as the multipart field 'video'",
            details={"field": "video"},
        )
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise BadRequest(
            "Idempotency-Key: must be 1 to 255 characters",
            details={"header": "Idempotency-Key"},
        )
    policy_name, digest = policy_digest(policy)
    callback_url = callback(callback_url)
    check_id = str(uuid.uuid4())
    tenant = str(tenant_id)
    stream: BinaryIO = file.stream  # type: ignore[assignment]
    stored = svc.storage.put_stream(tenant, check_id, stream)
    file.close()
    try:
        limit = svc.settings.max_upload_mb << 20
        if stored.size > limit:
            raise PayloadTooLarge(
                f"the video is larger than {svc.settings.max_upload_mb} MB. "
                "Do not trim or re-encode the evidence: either breaks completeness or "
                "timeliness, and the platform judges the original file. Check it with the "
                "command line (appeal-validator check, no size limit), or ask the operator "
                "to raise APPEAL_VALIDATOR_MAX_UPLOAD_MB.",
                details={"max_bytes": limit, "size_bytes": stored.size},
            )
        if stored.size == 0:
            raise EmptyFile("video: the file is empty (0 bytes); upload the recording itself")
        with open(stored.path, "rb") as f:
            media_type = sniffed_type(f.read(SNIFF_BYTES))
        if media_type is None:
            raise UnsupportedMediaType(
                "video: the file is not a video container this service reads (MP4/MOV, "
                "Matroska/WebM, AVI, MPEG-TS); the content decides, not the file name.",
                details={"field": "video"},
            )
        request_hash = canonical_hash(
            {"sha256": stored.sha256, "case": case, "policy": policy_name,
             "callback_url": callback_url}
        )  # fmt: skip
        if idempotency_key is not None:
            existing = svc.store.by_idempotency_key(tenant_id, idempotency_key)
            if existing is not None:
                svc.storage.delete_check(tenant, check_id)
                return NewCheck(_same(existing, request_hash), False)
        row, created = svc.store.create_check(
            id=check_id,
            tenant_id=tenant_id,
            api_key_id=api_key_id,
            web_session=web_session,
            filename=_display_name(file.filename),
            media_type=media_type,
            size_bytes=stored.size,
            sha256=stored.sha256,
            case=case,
            facts_hash=canonical_hash(case or {}),
            policy=policy_name,
            policy_digest=digest,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            # The one in effect, shown as the check's callback_url; the request hash
            # above has the request's own, so a replay compares what was sent.
            callback_url=callback_url or key_callback_url,
        )
    except BaseException:
        svc.storage.delete_check(tenant, check_id)
        raise
    if not created:  # lost a race with the same Idempotency-Key
        svc.storage.delete_check(tenant, check_id)
        return NewCheck(_same(row, request_hash), False)
    from validator.jobs.tasks import submit_check

    # A message lost here (the broker down, this process killed) is sent again by the
    # workers' recovery: the row is the truth, the message only a wake-up.
    try:
        submit_check(row.id, svc.settings)
    except Exception:
        log.warning("check %s: enqueue failed; the workers' recovery sends it", row.id,
                    exc_info=True)  # fmt: skip
    return NewCheck(row, True)


def _same(existing: Check, request_hash: str) -> Check:
    if existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "Idempotency-Key was already used with a different request (file, case, policy "
            "or callback_url); use a new key for a new request.",
            details={"header": "Idempotency-Key", "check_id": existing.id},
        )
    return existing


def _display_name(name: str | None) -> str | None:
    """The client's filename, for display only: its last component, printable, short."""
    if not name:
        return None
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:255] or None
