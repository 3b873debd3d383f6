"""Uploads: streamed to disk, sniffed by content, stored atomically, queued as a check.

Shared by the API and the form. werkzeug's multipart parser writes each file part
to a temporary file under ``<DATA_DIR>/tmp`` as it arrives (never the whole body
in memory); ``Storage.put_stream`` then copies it to its final place, hashing as
it goes. The form's script sends its videos as resumable uploads instead
(``validator.web.resumable``), which ``Storage.put_file`` links into place. One check
may have several videos (the form's case of several recordings): ``video``,
``video-1``, ... and ``clips.json`` beside them. The client's filename is kept for
display only.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any, BinaryIO

from flask import Request, current_app
from werkzeug.datastructures import FileStorage

from validator.errors import CaseError, EmptyFile
from validator.files import write_json
from validator.jobs import partial
from validator.jobs.partial import PartialError
from validator.jobs.storage import LocalStorage
from validator.jobs.store import canonical_hash
from validator.jobs.tables import Check
from validator.jobs.webhooks import Blocked, check_destination, check_url
from validator.media.sniff import media_type as sniffed_type
from validator.web.errors import (
    BadRequest,
    CallbackUrlBlocked,
    HttpError,
    IdempotencyConflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    UnsupportedMediaType,
    UploadConflict,
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


@dataclass(frozen=True)
class Clip:
    """One video of a check as it arrived: a multipart file part, or a finished resumable
    upload of this browser session (``validator.web.resumable``)."""

    part: FileStorage | None = None
    upload_id: str | None = None
    owner: str | None = None  # the upload's session


# Videos one check (one return case) may have: a case's recordings are a few takes (the
# unboxing, a close-up of a defect), not a library; each is analyzed in turn.
MAX_CLIPS = 8


def translate_partial(e: PartialError, upload_id: str) -> HttpError:
    """The one place the resumable uploads' refusals become HTTP errors."""
    if isinstance(e, partial.OffsetMismatch):
        return UploadConflict(
            f"the upload is at byte {e.offset}; send the chunk from there",
            details={"offset": e.offset, "id": upload_id},
        )
    if isinstance(e, partial.CutShort):
        return BadRequest(
            f"the chunk ended before its Content-Length; the upload is at byte {e.offset}: "
            "go on from there",
            details={"offset": e.offset, "id": upload_id},
        )
    if isinstance(e, partial.Busy):
        return UploadConflict(
            "another request is writing to this upload or checking it; ask its offset and "
            "go on from there",
            details={"id": upload_id, "reason": "upload_busy"},
        )
    if isinstance(e, partial.Incomplete):
        return UploadConflict(
            f"the upload has {e.offset} of its {e.length} bytes; send the rest first",
            details={"offset": e.offset, "length": e.length, "id": upload_id},
        )
    if isinstance(e, partial.TooLarge):
        # A chunk is not the video: "the video is larger than 16 MB" misled the merchant.
        reason = {"chunk": "chunk_too_large", "past_length": "past_length"}.get(e.what)
        extra = {"reason": reason} if reason else {}
        return PayloadTooLarge(str(e), details={"max_bytes": e.limit_bytes, **extra})
    if isinstance(e, partial.NoRoom):
        return Unavailable(
            f"no room for another upload now ({e}); try again later",
            details={"reason": "no_room", "limit": e.what, "retry_after_s": 600},
        )
    if isinstance(e, partial.TooManyOpen):
        return RateLimited(
            f"{e.limit} uploads of this browser are receiving bytes; finish or cancel one",
            details={"max_open": e.limit, "retry_after_s": 60, "reason": "too_many_uploads"},
        )
    return NotFound(
        f"no upload {upload_id!r} (finished, cancelled, or expired untouched); "
        "start the upload again",
        details={"id": upload_id, "reason": "upload_missing"},
    )


# Beside a case's videos in the check's folder: their names, sizes and hashes, in order.
CLIPS_FILE = "clips.json"


def clip_names(storage: LocalStorage, row: Check) -> list[dict[str, Any]]:
    """The videos of a check with several, as ``create_check`` listed them (stored name,
    the client's filename, size, sha256); [] for a check of one video."""
    path = storage.video_path(str(row.tenant_id), row.id).with_name(CLIPS_FILE)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def case_videos(storage: LocalStorage, row: Check) -> dict[str, Any] | None:
    """A check of several videos: the case's ``verdict`` (the worst of its videos') and
    each video in order (``videos``): ``index``, ``filename`` (the client's), ``verdict``
    (None: unreadable), ``report`` (its own, or None) and ``error`` (why it could not be
    read); from the case's ``report.json`` that ``check_case`` wrote beside the
    pictures. None for a check of one video."""
    clips = clip_names(storage, row)
    if len(clips) < 2 or row.status != "done":
        return None
    path = storage.derived_dir(str(row.tenant_id), row.id) / "report.json"
    try:
        case = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        case = {}
    by_name = {(r.get("file") or {}).get("name"): r for r in case.get("videos") or []}
    errors = {u.get("video"): u for u in case.get("unreadable") or []}
    out = []
    for i, clip in enumerate(clips):
        report = by_name.get(clip.get("name"))
        out.append({"index": i, "filename": clip.get("filename") or clip.get("name"),
                    "verdict": report.get("verdict") if report else None, "report": report,
                    "error": errors.get(clip.get("name"))})  # fmt: skip
    return {"verdict": case.get("verdict"), "videos": out}


@dataclass
class NewCheck:
    row: Check
    created: bool  # False: an Idempotency-Key replay of an existing check


def create_check(
    file: FileStorage | Sequence[Clip] | None,
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

    ``file`` is the API's one file part, or the form's clips: the videos of one return
    case, checked together (``check_case``): the first is the check's ``video`` (its
    sha256, size and report are the check's), the others ``video-1``, ...
    """
    import uuid

    svc = current_app.extensions["appeal"]
    clips = [Clip(part=file)] if isinstance(file, FileStorage) else list(file or [])
    clips = [c for c in clips if c.upload_id or isinstance(c.part, FileStorage)]
    if not clips:
        raise BadRequest(
            "video: no file; send the video as the multipart field 'video'",
            details={"field": "video"},
        )
    if len(clips) > MAX_CLIPS:
        raise BadRequest(
            f"video: {len(clips)} videos; one case takes at most {MAX_CLIPS}",
            details={"field": "video", "max_videos": MAX_CLIPS},
        )
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise BadRequest(
            "Idempotency-Key: must be 1 to 255 characters",
            details={"header": "Idempotency-Key"},
        )
    named = [c.upload_id for c in clips if c.upload_id is not None]
    if len(set(named)) < len(named):
        twice = next(u for u in named if named.count(u) > 1)
        raise BadRequest(
            f"upload: the upload {twice!r} is named twice; each video of a case once",
            details={"field": "upload", "id": twice, "reason": "upload_duplicate"},
        )
    policy_name, digest = policy_digest(policy)
    callback_url = callback(callback_url)
    check_id = str(uuid.uuid4())
    tenant = str(tenant_id)
    listed: list[dict[str, Any]] = []
    # Each upload is claimed (out of reach of another request) and checked where it lies
    # before anything is stored, and removed only once the check's row is committed: a
    # refused case gives every upload back whole (the merchant sends no byte again).
    claims: dict[int, partial.Claim] = {}
    try:
        for i, clip in enumerate(clips):
            if clip.upload_id is not None:
                claims[i] = _claim_clip(clip, svc, i)
        for i, clip in enumerate(clips):
            listed.append(_store_clip(clip, claims.get(i), svc, tenant, check_id, i))
        stored, media_type = listed[0]["stored"], listed[0]["media_type"]
        videos = [c["sha256"] for c in listed]
        facts_hash = canonical_hash(case or {})
        if len(listed) > 1:
            # The reuse key: a case of several videos reuses only a check of the same ones.
            facts_hash = canonical_hash({"case": case or {}, "videos": videos})
            write_json(stored.path.with_name(CLIPS_FILE),
                       [{k: v for k, v in c.items() if k != "stored"} for c in listed])  # fmt: skip
        request_hash = canonical_hash(
            {"sha256": stored.sha256, "case": case, "policy": policy_name,
             "callback_url": callback_url, **({"videos": videos} if len(videos) > 1 else {})}
        )  # fmt: skip
        if idempotency_key is not None:
            existing = svc.store.by_idempotency_key(tenant_id, idempotency_key)
            if existing is not None:
                svc.storage.delete_check(tenant, check_id)
                replayed = _same(existing, request_hash)
                _settle(claims, committed=True)
                return NewCheck(replayed, False)
        row, created = svc.store.create_check(
            id=check_id,
            tenant_id=tenant_id,
            api_key_id=api_key_id,
            web_session=web_session,
            filename=listed[0]["filename"],
            media_type=media_type,
            size_bytes=stored.size,
            sha256=stored.sha256,
            case=case,
            facts_hash=facts_hash,
            policy=policy_name,
            policy_digest=digest,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            # The one in effect, shown as the check's callback_url; the request hash
            # above has the request's own, so a replay compares what was sent.
            callback_url=callback_url or key_callback_url,
        )
        if not created:  # lost a race with the same Idempotency-Key
            svc.storage.delete_check(tenant, check_id)
            row = _same(row, request_hash)
    except BaseException:
        svc.storage.delete_check(tenant, check_id)
        _settle(claims, committed=False)
        raise
    _settle(claims, committed=True)
    if not created:
        return NewCheck(row, False)
    from validator.jobs.tasks import submit_check

    # A message lost here (the broker down, this process killed) is sent again by the
    # workers' recovery: the row is the truth, the message only a wake-up.
    try:
        submit_check(row.id, svc.settings)
    except Exception:
        log.warning("check %s: enqueue failed; the workers' recovery sends it", row.id,
                    exc_info=True)  # fmt: skip
    return NewCheck(row, True)


def _settle(claims: dict[int, partial.Claim], *, committed: bool) -> None:
    """The claimed uploads once the check is decided: removed when its row is committed
    (the check has their bytes), given back to the merchant when it was refused."""
    for claim in claims.values():
        try:
            claim.discard() if committed else claim.release()
        except OSError:  # never hides the request's own outcome; the sweep removes it
            log.warning("upload %s: could not settle its claim", claim.part.id, exc_info=True)


def _claim_clip(clip: Clip, svc: Any, i: int) -> partial.Claim:
    """Claim the upload of video ``i`` and check, where it lies, that it is a video."""
    assert clip.upload_id is not None
    try:
        claim: partial.Claim = svc.partial_uploads.claim(clip.owner or "", clip.upload_id)
    except PartialError as e:
        raise translate_partial(e, clip.upload_id) from e
    try:
        with open(claim.data, "rb") as f:
            head = f.read(SNIFF_BYTES)
        _check_video(svc, claim.part.length, head, i, _display_name(claim.part.filename))
    except BaseException:
        claim.release()
        raise
    return claim


def _store_clip(
    clip: Clip, claim: partial.Claim | None, svc: Any, tenant: str, check_id: str, i: int
) -> dict[str, Any]:
    """Store video ``i`` of a check (a claimed upload is linked, a file part copied)
    and check it is one (size, not empty, a container)."""
    name = "video" if i == 0 else f"video-{i}"
    if claim is not None:
        stored = svc.storage.put_file(tenant, check_id, claim.data, name)
        filename = _display_name(claim.part.filename)
    else:
        assert clip.part is not None
        stream: BinaryIO = clip.part.stream  # type: ignore[assignment]
        stored = svc.storage.put_stream(tenant, check_id, stream, name)
        clip.part.close()
        filename = _display_name(clip.part.filename)
    with open(stored.path, "rb") as f:
        media_type = _check_video(svc, stored.size, f.read(SNIFF_BYTES), i, filename)
    return {"name": name, "filename": filename, "size_bytes": stored.size,
            "sha256": stored.sha256, "media_type": media_type, "stored": stored}  # fmt: skip


def _check_video(svc: Any, size: int, head: bytes, i: int, filename: str | None) -> str:
    """Video ``i`` of ``size`` bytes starting ``head`` is one this service checks: not
    over the upload limit, not empty, a container by its content; its media type."""
    field = "video" if i == 0 else f"video[{i}]"
    limit = svc.settings.max_upload_mb << 20
    if size > limit:
        raise PayloadTooLarge(
            f"the video is larger than {svc.settings.max_upload_mb} MB. "
            "Do not trim or re-encode the evidence: either breaks completeness or "
            "timeliness, and the platform judges the original file. Check it with the "
            "command line (appeal-validator check, no size limit), or ask the operator "
            "to raise APPEAL_VALIDATOR_MAX_UPLOAD_MB.",
            details={"max_bytes": limit, "size_bytes": size, "field": field},
        )
    if size == 0:
        raise EmptyFile(
            "video: the file is empty (0 bytes); upload the recording itself",
            details={"field": field},
        )
    media_type = sniffed_type(head)
    if media_type is None:
        raise UnsupportedMediaType(
            "video: the file is not a video container this service reads (MP4/MOV, "
            "Matroska/WebM, AVI, MPEG-TS); the content decides, not the file name.",
            details={"field": field, **({"filename": filename} if i else {})},
        )
    return media_type


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
