"""The "record now" page and its chunk uploads: a recording the service witnesses.

A session is opened by the page itself (``POST /record/sessions``: the form's browser
session and CSRF token, the form's tenant) or by a ticket system (``POST
/api/v1/recordings``, which returns the page's link with the session's token in the
URL fragment, so it never reaches a server log). The page then sends, with the token
in ``X-Recording-Token`` (a custom header: no other site can make a browser send it):

    PUT  /record/<id>/chunks/<seq>   a chunk's bytes, X-Chunk-SHA256: its hash
    POST /record/<id>/stop           join the chunks, sign the witness, queue the check
    GET  /record/<id>/status         the session and, once stopped, its check
    GET  /record/<id>/live           live guidance (``validator.live``) while recording

The session store is ``validator.jobs.recordings``; the witness ``validator.witness``;
this module only adapts them to HTTP. The service's public key is served at
``/.well-known/appeal-validator-witness-key``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, BinaryIO

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from validator import witness as witness_mod
from validator.errors import EmptyFile
from validator.files import write_bytes
from validator.jobs.recordings import WITNESS, ChunkTooLarge, Recordings, Session
from validator.jobs.store import canonical_hash
from validator.media.sniff import media_type as sniffed_type
from validator.timeutil import iso
from validator.web.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from validator.web.i18n import current_lang, labels
from validator.witness import Chunk

log = logging.getLogger(__name__)

bp = Blueprint("record", __name__)

TOKEN_HEADER = "X-Recording-Token"

LABELS = {
    "en": {
        "record_title": "Record the unboxing now",
        "record_lead": "Record with this page and the service witnesses the recording: "
        "each second is sent as it is filmed, timed by the server's clock and signed. "
        "Keep the parcel, the waybill and all six faces in view.",
        "record_start": "Start recording",
        "record_stop": "Stop and check",
        "record_camera_needed": "This page needs the camera. Allow it, and open the page "
        "over HTTPS (or on this computer as localhost).",
        "record_sent": "Sent",
        "record_queued": "Waiting to send (offline)",
        "record_stopping": "Sending the last seconds…",
        "record_checking": "The recording is complete. Checking it…",
        "record_done": "Checked. The ticket system has the result.",
        "record_seconds": "s recorded",
        "record_open_report": "Open the report",
        "record_no_token": "This recording link is incomplete: open the whole link you "
        "were sent (it ends with #token=...).",
        "record_faces": "Faces shown",
        "record_label": "Waybill",
        "record_label_ok": "read, matches",
        "record_label_other": "read, another number",
        "record_label_read": "read",
        "record_cube": "{n} of 6 faces shown",
        "record_verify_hint": "Got a witnessed recording and its report?",
        "record_verify_link": "Verify it",
    },
    "zh": {
        "record_title": "现在录制拆包视频",
        "record_lead": "用本页录制，服务会为录制作见证：每一秒拍下后立即上传，"
        "以服务器时钟计时并签名。请让包裹、面单和六个面都出现在画面中。",
        "record_start": "开始录制",
        "record_stop": "停止并检查",
        "record_camera_needed": "本页需要使用摄像头。请允许访问，"
        "并通过 HTTPS（或在本机以 localhost）打开本页。",
        "record_sent": "已上传",
        "record_queued": "等待上传（网络断开）",
        "record_stopping": "正在上传最后几秒…",
        "record_checking": "录制已完整上传，正在检查…",
        "record_done": "检查完成，结果已发送给工单系统。",
        "record_seconds": "秒已录制",
        "record_open_report": "查看报告",
        "record_no_token": "录制链接不完整：请打开收到的完整链接（以 #token=... 结尾）。",
        "record_faces": "已展示的面",
        "record_label": "面单",
        "record_label_ok": "已识别，与单号一致",
        "record_label_other": "已识别，单号不一致",
        "record_label_read": "已识别",
        "record_cube": "已展示 {n}/6 个面",
        "record_verify_hint": "收到了见证录制的视频及其报告？",
        "record_verify_link": "核验视频",
    },
}


# -- the service's parts -----------------------------------------------------------------


def recordings() -> Recordings:
    return current_app.extensions["appeal"].recordings


def signing_key() -> Any:
    """The service's Ed25519 key (made in DATA_DIR on first use), loaded once."""
    svc = current_app.extensions["appeal"]
    key = current_app.extensions.get("appeal_witness_key")
    if key is None:
        key = witness_mod.load_or_create_key(svc.settings.data_dir, svc.settings.witness_key_file)
        current_app.extensions["appeal_witness_key"] = key
    return key


def open_session(
    *,
    tenant_id: int,
    case: dict[str, Any] | None,
    policy: str | None,
    callback_url: str | None = None,
    key_callback_url: str | None = None,
    api_key_id: str | None = None,
    web_session: str | None = None,
) -> tuple[Session, str]:
    """A new recording session (policy and callback checked as an upload's are; the
    check's webhook goes to ``callback_url``, else the key's)."""
    from validator.web.uploads import callback, policy_digest

    name, digest = policy_digest(policy)
    return recordings().create(
        tenant_id=tenant_id,
        case=case,
        policy=name,
        policy_digest=digest,
        callback_url=callback(callback_url) or key_callback_url,
        api_key_id=api_key_id,
        web_session=web_session,
    )


def page_link(session_id: str, token: str) -> str:
    """The page's absolute URL for a ticket system to send to the warehouse."""
    return url_for("record.page", rec_id=session_id, _external=True) + f"#token={token}"


def session_resource(session: Session, *, api: bool) -> dict[str, Any]:
    """A session as the API and the page show it."""
    if session.state == "recording":
        received = len(recordings().chunks(session.id))
    else:
        received = session.chunk_count or 0
    out: dict[str, Any] = {
        "id": session.id,
        "state": session.state,
        "created_at": iso(session.created_at),
        "stopped_at": iso(session.stopped_at),
        "chunks_received": received,
        "chunk_interval_s": recordings().limits.chunk_interval_s,
        "max_chunks": recordings().limits.max_chunks,
        "max_chunk_bytes": recordings().limits.max_chunk_bytes,
        "policy": session.policy,
        "callback_url": session.callback_url,
        "check_id": session.check_id,
    }
    svc = current_app.extensions["appeal"]
    row = svc.store.get(session.check_id) if session.check_id else None
    out["check"] = None
    if row is not None:
        out["check"] = {"id": row.id, "status": row.status,
                        "verdict": (row.report or {}).get("verdict")}  # fmt: skip
    links: dict[str, Any] = {}
    if api:
        links["self"] = url_for("api.get_recording", rec_id=session.id)
        links["check"] = url_for("api.get_check", check_id=row.id) if row else None
    elif row is not None and session.web_session:
        links["report"] = url_for("form.show", check_id=row.id)
    out["links"] = links
    return out


def assemble(session: Session, chunks: list[Chunk], joined: BinaryIO) -> str:
    """Store the joined chunks as a check's video, sign its witness, queue the check."""
    import uuid

    svc = current_app.extensions["appeal"]
    check_id = str(uuid.uuid4())
    tenant = str(session.tenant_id)
    stored = svc.storage.put_stream(tenant, check_id, joined)
    try:
        limit = svc.settings.max_upload_mb << 20
        if stored.size > limit:
            raise PayloadTooLarge(
                f"the recording is larger than {svc.settings.max_upload_mb} MB",
                details={"max_bytes": limit, "size_bytes": stored.size},
            )
        if stored.size == 0:
            raise EmptyFile("the recording is empty: the camera sent no data")
        with open(stored.path, "rb") as f:
            media_type = sniffed_type(f.read(512))
        if media_type is None:
            raise UnsupportedMediaType(
                "the recording is not a video container this service reads; record "
                "with a current Chrome, Edge, Firefox or Safari",
                details={"field": "chunks"},
            )
        record = witness_mod.build(
            recording_id=session.id,
            created_at=session.created_at,
            chunks=chunks,
            chunk_interval_s=recordings().limits.chunk_interval_s,
            file_sha256=stored.sha256,
            file_size_bytes=stored.size,
        )
        signed = witness_mod.sign(record, signing_key())
        # Beside the video, before the row exists: the job that runs the check finds it.
        write_bytes(stored.path.with_name(WITNESS),
                    json.dumps(signed, ensure_ascii=False).encode(), mode=0o600)  # fmt: skip
        ext = "webm" if media_type == "video/webm" else "mp4"
        row, _ = svc.store.create_check(
            id=check_id,
            tenant_id=session.tenant_id,
            api_key_id=session.api_key_id,
            web_session=session.web_session,
            filename=f"recording-{session.id}.{ext}",
            media_type=media_type,
            size_bytes=stored.size,
            sha256=stored.sha256,
            case=session.case,
            facts_hash=canonical_hash(session.case or {}),
            policy=session.policy,
            policy_digest=session.policy_digest,
            request_hash=canonical_hash({"recording": session.id}),
            callback_url=session.callback_url,
        )
    except BaseException:
        svc.storage.delete_check(tenant, check_id)
        raise
    from validator.jobs.tasks import submit_check

    try:
        submit_check(row.id, svc.settings)
    except Exception:
        log.warning("check %s: enqueue failed; the workers' recovery sends it", row.id,
                    exc_info=True)  # fmt: skip
    return row.id


# -- the page and its calls ---------------------------------------------------------------


def _page(**ctx: Any) -> Response:
    from validator.web.form import csrf_token

    lang = current_lang()
    svc = current_app.extensions["appeal"]
    t = {**labels(lang), **LABELS[lang]}
    html = render_template(
        "record.html",
        lang=lang,
        t=t,
        csrf_token=csrf_token(),
        chunk_ms=int(svc.settings.recording_chunk_s * 1000),
        **ctx,
    )
    return Response(html, mimetype="text/html")


@bp.get("/record")
def new_page() -> Response:
    """The form's "record now": the page opens its own session when recording starts."""
    return _page(rec_id=None)


@bp.get("/record/<rec_id>")
def page(rec_id: str) -> Response:
    """A ticket system's session: the token is in the URL fragment, read by the script."""
    recordings().get(rec_id)  # 404 for no such session
    return _page(rec_id=rec_id)


@bp.post("/record/sessions")
def create_form_session() -> tuple[Response, int]:
    from validator.web.form import _check_csrf, _session_id
    from validator.web.limits import refuse_if_over

    svc = current_app.extensions["appeal"]
    address = refuse_if_over(svc.form_posts, "form posts")
    svc.form_posts.hit(address)
    _check_csrf()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object", details={"field": "body"})
    case = _case(body)
    session, token = open_session(
        tenant_id=svc.web_tenant_id, case=case, policy=None, web_session=_session_id()
    )
    return jsonify({**session_resource(session, api=False), "token": token}), 201


def _case(body: dict[str, Any]) -> dict[str, Any] | None:
    from validator.web.uploads import parse_case

    ret = {
        "tracking_number": str(body.get("tracking_number") or "").strip() or None,
        "signed_at": str(body.get("return_signed_at") or "").strip() or None,
    }
    ret = {k: v for k, v in ret.items() if v}
    return parse_case(json.dumps({"return": ret})) if ret else None


def _authorized(rec_id: str) -> Session:
    return recordings().authorized(rec_id, request.headers.get(TOKEN_HEADER))


@bp.put("/record/<rec_id>/chunks/<int:seq>")
def put_chunk(rec_id: str, seq: int) -> tuple[Response, int]:
    session = _authorized(rec_id)
    limit = recordings().limits.max_chunk_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise ChunkTooLarge(
            f"chunk {seq} has more than {limit} bytes",
            details={"seq": seq, "max_bytes": limit},
        )
    data = request.stream.read(limit + 1)  # never more than one chunk in memory
    got = recordings().put_chunk(rec_id, seq, data, request.headers.get("X-Chunk-SHA256", ""))
    start_live(session)
    c = got.chunk
    body = {"seq": c.seq, "size_bytes": c.size_bytes, "sha256": c.sha256,
            "received_at": iso(c.received_at), "duplicate": got.duplicate}  # fmt: skip
    return jsonify(body), 200 if got.duplicate else 201


@bp.post("/record/<rec_id>/stop")
def stop(rec_id: str) -> tuple[Response, int]:
    _authorized(rec_id)
    session = recordings().stop(rec_id, assemble)
    end_live(rec_id)
    return jsonify(session_resource(session, api=False)), 202


@bp.get("/record/<rec_id>/status")
def status(rec_id: str) -> Response:
    session = _authorized(rec_id)
    return jsonify(session_resource(session, api=False))


@bp.get(witness_mod.WELL_KNOWN_PATH)
def witness_key() -> Response:
    """The public key that signs the witness records (``appeal-validator verify --key``)."""
    resp = jsonify(witness_mod.public_key_document(signing_key()))
    resp.cache_control.public = True
    resp.cache_control.max_age = 3600
    return resp


# -- live guidance ------------------------------------------------------------------------
# One decoder thread per recording, in the web process that received its first chunk
# (serve runs one; behind gunicorn with several processes the page's polls must reach
# the same one: sticky sessions, or guidance is simply absent, never wrong).

_LIVE: dict[str, Any] = {}
_LIVE_LOCK = threading.Lock()
MAX_LIVE = 8  # decoders at once per process: each takes about a fifth of a core


class _Live:
    def __init__(self, rec_id: str, folder: Any, tracking_number: str | None) -> None:
        from validator.live import ChunkStream, LiveAnalysis

        self.rec_id = rec_id
        self.stop = threading.Event()
        self.analysis = LiveAnalysis(tracking_number=tracking_number)
        self.stream = ChunkStream(folder, self.stop.is_set)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True, name="live-guidance")
        self.thread.start()

    def _run(self) -> None:
        from validator.live import run_live

        try:
            run_live(self.stream, self.analysis, self.stop)
        except Exception:  # guidance is a help: a failure ends it, the check still runs
            log.warning("live guidance stopped on an error", exc_info=True)
        finally:
            with _LIVE_LOCK:  # an idle or failed decoder frees its place
                if _LIVE.get(self.rec_id) is self and not self.stop.is_set():
                    del _LIVE[self.rec_id]


def start_live(session: Session) -> None:
    """Start the recording's guidance once its first chunk is stored (idempotent)."""
    with _LIVE_LOCK:
        if session.id in _LIVE or len(_LIVE) >= MAX_LIVE:
            return
        tracking = ((session.case or {}).get("return") or {}).get("tracking_number")
        folder = recordings().root / session.id / "chunks"
        _LIVE[session.id] = _Live(session.id, folder, tracking)


def end_live(rec_id: str) -> None:
    with _LIVE_LOCK:
        live = _LIVE.pop(rec_id, None)
    if live is not None:
        live.stop.set()


@bp.get("/record/<rec_id>/live")
def live_state(rec_id: str) -> Response:
    """What the page shows while recording (polled once a second): faces shown so far,
    the label, prompts; ``available`` false when this process runs no guidance for it."""
    _authorized(rec_id)
    live = _LIVE.get(rec_id)
    if live is None:
        return jsonify({"available": False})
    return jsonify({"available": True, **live.analysis.state()})
