"""The upload form and the report pages (server-rendered; one small script).

The form's checks belong to the built-in tenant ``_web`` (API keys cannot be made
for it) and, within it, to the browser session that uploaded them: another
session, or any API key, gets 404 for them. CSRF: a random token kept in the
signed session cookie and echoed by the script (``X-CSRF-Token``) or, without
JavaScript, by the query string of the form's action URL, compared in constant time;
the cookie is ``SameSite=Lax``. (A dozen lines instead of Flask-WTF: the form has no
other use for WTForms.)

Every post is checked before its body is read (werkzeug parses it only when
``request.form`` or ``request.files`` is touched): first the address's rate limit,
then the session and the token, so a client without a session cannot make the
service parse and spool a 500 MB multipart body.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from validator.jobs import previews
from validator.jobs.tables import Check
from validator.models import REQUIREMENTS
from validator.reasons import advice
from validator.report.preview import needs_preview
from validator.web.errors import CsrfFailed, NotFound, Unavailable
from validator.web.i18n import CLAIMS, current_lang, error_text, labels
from validator.web.limits import refuse_if_over
from validator.web.params import whole_number
from validator.web.uploads import Clip, case_videos, create_check, parse_case

bp = Blueprint("form", __name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.before_request
def guard_posts() -> None:
    """Rate limit and CSRF for every post, before anything reads the body."""
    if request.method != "POST":
        return
    svc = current_app.extensions["appeal"]
    address = refuse_if_over(svc.form_posts, "form posts")
    svc.form_posts.hit(address)
    _check_csrf()


def _check_csrf() -> None:
    # Never request.form: that would parse the very body this check is to refuse.
    sent = request.headers.get("X-CSRF-Token") or request.args.get("csrf_token") or ""
    want = session.get("csrf") or ""
    if not want or not hmac.compare_digest(sent.encode(), want.encode()):
        raise CsrfFailed(
            "the form expired or was not sent from this site; reload the page and submit it again"
        )


def _session_id() -> str:
    if "sid" not in session:
        session["sid"] = secrets.token_hex(16)
        session.permanent = True
    return session["sid"]


def _own(check_id: str) -> Check:
    """The session's own check; 404 otherwise (another session's looks like none)."""
    svc = current_app.extensions["appeal"]
    row = None
    if _UUID.match(check_id):
        row = svc.store.get(check_id, tenant_id=svc.web_tenant_id)
    sid = session.get("sid")
    if row is None or not sid or not hmac.compare_digest(row.web_session or "", sid):
        raise NotFound(f"no check {check_id!r}", details={"id": check_id})
    return row


def _page(template: str, status: int = 200, **ctx: Any) -> Response:
    lang = current_lang()
    svc = current_app.extensions["appeal"]
    # A notice left by the post that redirected here ("deleted", ...), shown once.
    if "notice" in session:
        ctx.setdefault("notice", session.pop("notice"))
    resp = Response(
        render_template(
            template,
            lang=lang,
            t=labels(lang),
            csrf_token=csrf_token(),
            max_mb=svc.settings.max_upload_mb,
            **ctx,
        ),
        status=status,
        mimetype="text/html",
    )
    return resp


@bp.get("/")
def index() -> Response:
    return _page("index.html", claims=CLAIMS, form={}, error=None)


def _case_from_form() -> dict[str, Any] | None:
    f = request.form
    ret = {
        "tracking_number": f.get("tracking_number", "").strip() or None,
        "signed_at": f.get("return_signed_at", "").strip() or None,
    }
    evidence = {"deadline": f.get("evidence_deadline", "").strip() or None}
    claim = {
        "type": f.get("claim_type", "").strip() or None,
        "statement": f.get("claim_statement", "").strip() or None,
    }
    case: dict[str, Any] = {}
    for key, part in (("return", ret), ("evidence", evidence), ("claim", claim)):
        part = {k: v for k, v in part.items() if v is not None}
        if part:
            case[key] = part
    return parse_case(json.dumps(case)) if case else None


@bp.post("/checks")
def upload() -> ResponseReturnValue:
    svc = current_app.extensions["appeal"]
    # The videos of the case: file parts (the form without JavaScript) or the ids of
    # finished resumable uploads of this session (the script), in the merchant's order.
    sid = _session_id()
    clips = [Clip(part=f) for f in request.files.getlist("video")]
    clips += [Clip(upload_id=u, owner=sid) for u in request.form.getlist("upload") if u]
    new = create_check(
        clips,
        tenant_id=svc.web_tenant_id,
        case=_case_from_form(),
        web_session=sid,
    )
    url = url_for("form.show", check_id=new.row.id)
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return jsonify(
            {
                "id": new.row.id,
                "status": new.row.status,
                "url": url,
                "status_url": url_for("form.status", check_id=new.row.id),
            }
        )
    return redirect(url, code=303)


@bp.get("/checks/<check_id>/status.json")
def status(check_id: str) -> Response:
    row = _own(check_id)
    out: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "progress": row.progress,
        "stage": row.stage,
    }
    if row.status == "failed":
        out["error"] = row.error
    return jsonify(out)


@bp.get("/checks/<check_id>/report.json")
def report_json(check_id: str) -> Response:
    row = _own(check_id)
    if row.status != "done" or row.report is None:
        raise NotFound(f"check {check_id} has no report yet", details={"status": row.status})
    resp = current_app.response_class(
        json.dumps(row.report, ensure_ascii=False, indent=2), mimetype="application/json"
    )
    resp.headers["Content-Disposition"] = f'attachment; filename="report-{row.id[:8]}.json"'
    return resp


@bp.get("/checks/<check_id>/case.json")
def case_json(check_id: str) -> Response:
    """The case's report of a check of several videos: every video's report, the case's
    verdict and prediction (``check_case``'s report.json)."""
    row = _own(check_id)
    svc = current_app.extensions["appeal"]
    path = svc.storage.derived_dir(str(row.tenant_id), row.id) / "report.json"
    if case_videos(svc.storage, row) is None or not path.is_file():
        raise NotFound(f"check {check_id} is not a case of several videos, or not done")
    resp = current_app.response_class(path.read_bytes(), mimetype="application/json")
    resp.headers["Content-Disposition"] = f'attachment; filename="case-{row.id[:8]}.json"'
    return resp


@bp.get("/checks/<check_id>/thumbnails/<name>")
def thumbnail(check_id: str, name: str) -> Response:
    return picture_of(_own(check_id), name)


def picture_of(row: Check, name: str) -> Response:
    """One of a check's pictures (the owner's route and a share link's)."""
    from validator.web.api import IMAGE_TYPES, image_response

    svc = current_app.extensions["appeal"]
    path = svc.storage.derived_file(str(row.tenant_id), row.id, name)
    mime = mimetypes.guess_type(name)[0]
    if path is None or mime not in IMAGE_TYPES:
        raise NotFound(f"no picture {name!r}")
    return image_response(path, mime)


def _done_report(row: Check) -> dict[str, Any]:
    """The check's report, its file named as the merchant uploaded it (the service
    stores every upload as ``video``)."""
    if row.status != "done" or not row.report:
        raise NotFound(f"check {row.id} has no report yet", details={"status": row.status})
    report = dict(row.report)
    if row.filename:
        report["file"] = {**report["file"], "name": row.filename}
    return report


@bp.get("/checks/<check_id>/evidence")
def evidence_page(check_id: str) -> Response:
    """The evidence report as a printable page (its print stylesheet keeps every word)."""
    from validator.report.evidence import evidence

    row = _own(check_id)
    report = _done_report(row)
    lang = current_lang()
    ev = evidence(report, lang, checked_at=row.finished_at or row.created_at)
    svc = current_app.extensions["appeal"]
    available = set(svc.thumbnail_names(row))
    urls = {f.name: url_for("form.thumbnail", check_id=row.id, name=f.name)
            for f in ev.frames if f.name in available}  # fmt: skip
    return _page("evidence.html", check=row, ev=ev, frame_urls=urls)


@bp.get("/checks/<check_id>/evidence.pdf")
def evidence_pdf(check_id: str) -> Response:
    """The evidence report as an A4 PDF in the page's language, its font embedded."""
    return evidence_pdf_of(_own(check_id))


def evidence_pdf_of(row: Check) -> Response:
    """The PDF of a done check (the owner's route and a share link's)."""
    from validator.errors import FontMissing
    from validator.report.pdf import render_pdf

    report = _done_report(row)
    lang = current_lang()
    svc = current_app.extensions["appeal"]
    try:
        data = render_pdf(
            report,
            lang,
            pictures=svc.storage.derived_dir(str(row.tenant_id), row.id),
            checked_at=row.finished_at or row.created_at,
        )
    except FontMissing as e:  # the operator's to fix: the service cannot make it now
        message = e.details.get("message_zh", e.message) if lang == "zh" else e.message
        details = {"reason": "font_missing", "setting": e.details.get("setting")}
        raise Unavailable(message, details=details) from e
    resp = current_app.response_class(data, mimetype="application/pdf")
    name = f"evidence-{row.id[:8]}-{lang}.pdf"
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


@bp.get("/checks/<check_id>/delete")
def confirm_delete(check_id: str) -> Response:
    """The confirmation step: a page of its own, so it works without JavaScript."""
    return _page("confirm_delete.html", check=_own(check_id))


@bp.post("/checks/<check_id>/delete")
def delete(check_id: str) -> ResponseReturnValue:
    """Deletes once confirmed (the confirmation page's ``confirm`` field), then sends the
    browser to the history with a notice: a page that works, never the deleted report.
    A post without ``confirm`` (an old page's button) is shown the confirmation first."""
    row = _own(check_id)
    if request.form.get("confirm") != "yes":
        return redirect(url_for("form.confirm_delete", check_id=row.id), code=303)
    current_app.extensions["appeal"].delete(row)
    session["notice"] = "deleted"
    return redirect(url_for("history.index"), code=303)


@bp.get("/checks/<check_id>")
def show(check_id: str) -> Response:
    row = _own(check_id)
    if row.status in ("queued", "running"):
        return _page("progress.html", check=row)
    if row.status == "failed":
        return _page("failed.html", check=row, error=row.error or {}, status=422)
    return _page("report.html", **report_context(row))


def report_context(
    row: Check,
    picture_url: Callable[[str], str] | None = None,
    media_url: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """What report.html shows of a finished check; ``picture_url(name)`` links its
    pictures and ``media_url("video" | "preview")`` its player's source (default: the
    owner's routes; a share link passes its own)."""
    svc = current_app.extensions["appeal"]
    report = row.report or {}
    names = svc.thumbnail_names(row)
    # A case of several videos: the page shows one (?video=i) and lists them all.
    case = case_videos(svc.storage, row)
    videos = case["videos"] if case else []
    chosen = whole_number(request.args.get("video"))
    shown = chosen if chosen is not None and chosen < len(videos) else 0
    lang = current_lang()
    if case:
        if shown and videos[shown]["report"]:
            report = {**videos[shown]["report"], "prediction": report.get("prediction")}
        names = [n for n in names if n.startswith(f"v{shown}-")]
        for v in videos:  # an unreadable video's reason, in the merchant's words
            v["error_text"] = error_text(v["error"], lang) if v.get("error") else None
    return {
        "check": row,
        "report": report,
        "requirements": REQUIREMENTS,
        "timeline": _timeline(report),
        "thumbs": _thumbnails(report, names, row, picture_url),
        "prediction": report.get("prediction"),
        "player": _player(row, media_url, shown),
        "advice": _advice(report, lang),
        "case": case,
        "shown_video": shown,
        # The owner's download of the whole case (a share link gives the report JSON).
        "case_json_url": None if media_url else url_for("form.case_json", check_id=row.id),
    }


# --- the player (issue 12, "Look for yourself") ---------------------------------------


def _video_file(row: Check, index: int = 0) -> Path:
    """The check's ``index``-th video (0: the first, the check's own)."""
    svc = current_app.extensions["appeal"]
    paths = svc.storage.video_paths(str(row.tenant_id), row.id)
    if not 0 <= index < len(paths) or not paths[index].is_file():
        raise NotFound(f"check {row.id} has no video {index}")
    return paths[index]


def _video_index() -> int:
    """Which of a case's videos a player request names (``?video=i``, default the first)."""
    chosen = whole_number(request.args.get("video"))
    return chosen if chosen is not None and chosen < 1000 else 0


def _player(
    row: Check, media_url: Callable[[str], str] | None = None, index: int = 0
) -> dict[str, Any]:
    """What the report's player plays for the case's ``index``-th video: the original,
    or (when browsers cannot play it: HEVC in Chromium, AVI, MPEG-TS) its H.264
    preview, which a worker makes once, asked for here (``state``: ready, preparing
    or failed; None when the original plays)."""
    svc = current_app.extensions["appeal"]
    paths = svc.storage.video_paths(str(row.tenant_id), row.id)
    path = paths[index] if index < len(paths) else None
    preview = path is not None and path.is_file() and needs_preview(path)
    state = _preview_status(row, index).state if preview else None
    extra: dict[str, Any] = {"video": index} if index else {}

    def url(kind: str) -> str:
        if media_url:
            return media_url(kind) + (f"?video={index}" if index else "")
        return url_for(f"form.{kind}", check_id=row.id, **extra)

    return {
        # A failed preview: the original, which this browser may play after all.
        "src": url("preview" if state in ("ready", "preparing") else "video"),
        "video": url("video"),
        "preview_url": url("preview"),
        "preview": preview,
        "state": state,
        "retry_after_s": previews.RETRY_AFTER_S,
    }


def _preview_status(row: Check, index: int) -> previews.PreviewStatus:
    """The preview's status; asks a worker to make it when none is on it yet."""
    from validator.jobs.tasks import submit_preview

    svc = current_app.extensions["appeal"]
    settings = svc.settings

    def send(check_id: str, video_index: int, task_id: str) -> None:
        submit_preview(check_id, video_index, task_id, settings)

    return previews.request(svc.store, svc.storage, row, index, send)


@bp.get("/checks/<check_id>/video")
def video(check_id: str) -> Response:
    """The uploaded file as it was checked, with HTTP Range (a player seeks by it)."""
    return video_of(_own(check_id))


def video_of(row: Check) -> Response:
    """The uploaded file of a check (the owner's route and a share link's)."""
    # Browsers sniff the container; the type only hints, so it names one they play:
    # an iPhone's .MOV is MP4's format, and video/mp4 a type every browser accepts.
    mime = mimetypes.guess_type(row.filename or "")[0] or ""
    mime = "video/webm" if mime in ("video/webm", "video/x-matroska") else "video/mp4"
    path = _video_file(row, _video_index())
    return send_file(path, mimetype=mime, conditional=True, max_age=0)


@bp.get("/checks/<check_id>/preview.mp4")
def preview(check_id: str) -> Response:
    """The H.264 preview of a video browsers cannot play, made once by a worker, kept
    with the check's pictures (deleted with it): 200/206 with HTTP Range when made,
    202 with Retry-After while it is being made."""
    return preview_of(_own(check_id))


def preview_of(row: Check) -> Response:
    """A check's preview (the owner's route and a share link's)."""
    check_id = row.id
    if row.status != "done":
        raise NotFound(f"check {check_id} has no report yet", details={"status": row.status})
    index = _video_index()
    source = _video_file(row, index)
    svc = current_app.extensions["appeal"]
    made = previews.preview_path(svc.storage, row, index)
    if not made.is_file() and not needs_preview(source):
        raise NotFound(f"check {check_id} needs no preview")
    status = _preview_status(row, index)
    if status.state == "failed":
        raise NotFound(
            f"the preview of check {check_id} could not be made; its original is at /video",
            details={"reason": "preview_failed", "error": status.error},
        )
    if status.state == "preparing":
        resp = jsonify({"status": "preparing", "retry_after_s": previews.RETRY_AFTER_S})
        resp.status_code = 202
        resp.headers["Retry-After"] = str(previews.RETRY_AFTER_S)
        resp.headers["Cache-Control"] = "no-store"
        return resp
    assert status.path is not None
    return send_file(status.path, mimetype="video/mp4", conditional=True, max_age=0)


def _advice(report: dict[str, Any], lang: str) -> dict[str, dict[str, Any]]:
    """What now, for each reason code the report's requirements give (passes have none)."""
    out: dict[str, dict[str, Any]] = {}
    for req in (report.get("requirements") or {}).values():
        for r in req.get("reasons") or []:
            code = str(r.get("code") or "")
            found = advice(code, lang) if r.get("verdict") != "pass" else None
            if found:
                out[code] = found
    return out


# A reason's ``at_s`` and the event it cites are rounded apart (2 and 3 decimals).
CITE_TOLERANCE_S = 0.05


# What a cited moment with no event shows, by its reason's code (the pictures' labels).
CITED_LABEL = (("faces_", "face"), ("waybill_", "waybill"), ("opening", "opening"),
               ("starts_opened", "opening"), ("label_after", "waybill"))  # fmt: skip


def _cited(report: dict[str, Any]) -> list[tuple[float, str, str]]:
    """The moments the requirement cards cite (their reasons' ``at_s``), each with the
    requirement citing it and what it shows, in time order, once each."""
    found: list[tuple[float, str, str]] = []
    for name in REQUIREMENTS:
        req = (report.get("requirements") or {}).get(name) or {}
        for r in req.get("reasons") or []:
            code = str(r.get("code") or "")
            label = next((k for prefix, k in CITED_LABEL if code.startswith(prefix)), name)
            for t in r.get("at_s") or []:
                if isinstance(t, int | float) and not any(
                    abs(t - u) <= CITE_TOLERANCE_S for u, _, _ in found
                ):
                    found.append((float(t), name, label))
    return sorted(found)


def _timeline(report: dict[str, Any]) -> dict[str, Any]:
    """The moments the cards cite, placed on a 0-100 % strip of the video's duration
    (as the event there, when one is); the events no card cites are listed apart
    (``others``: below a threshold, or not a finding of any requirement)."""
    duration = float((report.get("media") or {}).get("duration_s") or 0.0)
    cited = _cited(report)

    def place(t: float, length: float) -> tuple[float, float]:
        if duration <= 0:
            return 0.0, 0.0
        left = max(0.0, min(100.0, 100.0 * t / duration))
        return round(left, 3), round(max(0.0, min(100.0 - left, 100.0 * length / duration)), 3)

    marks: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    used: set[float] = set()
    for e in report.get("events") or []:
        t = float(e.get("t_s") or 0.0)
        length = float(e.get("length_s") or 0.0)
        left, width = place(t, length)
        kind = e.get("kind", "?")
        mark = {"kind": kind, "label": kind, "t_s": t, "length_s": length or None,
                "left": left, "width": width, "event": True}  # fmt: skip
        hit = [u for u, _, _ in cited if abs(u - t) <= CITE_TOLERANCE_S]
        (marks if hit else others).append(mark)
        used.update(hit)
    for t, name, label in cited:  # cited moments with no event: a face shown, a label read
        if t not in used:
            left, _ = place(t, 0.0)
            marks.append({"kind": name, "label": label, "t_s": t, "length_s": None,
                          "left": left, "width": 0.0, "event": False})  # fmt: skip
    marks.sort(key=lambda m: m["t_s"])
    lanes = _lanes(marks)
    ticks = []
    if duration > 0:
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if duration / s <= 8)
        n = 0
        while n * step <= duration:
            ticks.append({"t": n * step, "left": round(100.0 * n * step / duration, 3)})
            n += 1
    return {"duration_s": duration, "marks": marks, "others": others, "ticks": ticks,
            "lanes": lanes}  # fmt: skip


# Marks closer than this share no row: a mark is a 24 px target (WCAG 2.5.8), 8 % of the
# strip on a 375 px phone (about 310 px wide), so two in one row never overlap there.
MARK_GAP_PCT = 8.0


def _lanes(marks: list[dict[str, Any]]) -> int:
    """Puts each mark in the first row where it keeps ``MARK_GAP_PCT`` from the one
    before (``lane``); returns the number of rows (a tap never lands on two marks)."""
    ends: list[float] = []
    for m in marks:
        lane = next((i for i, end in enumerate(ends) if m["left"] - end >= MARK_GAP_PCT), None)
        end = m["left"] + (m["width"] if m["width"] > 0.5 else 0.0)
        if lane is None:
            ends.append(end)
            lane = len(ends) - 1
        else:
            ends[lane] = end
        m["lane"] = lane
    return max(1, len(ends))


SECTION_KIND = {"faces": "face", "thumbnails": "contact_sheet"}
# Pictures of checks made before version 0.2 were named for their moment: cut-7.70.jpg
LEGACY_NAME = re.compile(r"^(?P<kind>[a-z_]+)-(?P<t>\d+\.\d{2})\.jpg$")


def _moment(name: str, section: str, info: dict[str, Any]) -> tuple[str, float | None]:
    """What a picture shows and when: from the report object that names it."""
    legacy = LEGACY_NAME.match(name)
    if not section and legacy:
        return legacy["kind"], float(legacy["t"])
    kind = info.get("kind") or SECTION_KIND.get(section, section)
    t = info.get("t_s", info.get("seen_at_s"))
    if t is None and section == "waybill":  # the best read of the first code listed
        codes = info.get("codes") or [{}]
        t = codes[0].get("best_t_s", codes[0].get("first_t_s"))
    return kind, t if isinstance(t, int | float) else None


def _thumbnails(
    report: dict[str, Any],
    names: list[str],
    row: Check,
    picture_url: Callable[[str], str] | None = None,
) -> list[dict[str, Any]]:
    """Pictures to show: those the report refers to (faces, waybill, events), then the rest.

    The report may name a picture anywhere (``faces.shown[].thumbnail``, a
    ``thumbnails`` list, ...); only bare names of files that exist in the check's
    derived folder are served, labelled with the report's top-level key.
    """
    available = set(names)
    found: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(ref: str, label: str, info: dict[str, Any]) -> None:
        name = ref.replace("\\", "/").rsplit("/", 1)[-1]
        if name in available and name not in seen:
            seen.add(name)
            if picture_url is not None:
                url = picture_url(name)
            else:
                url = url_for("form.thumbnail", check_id=row.id, name=name)
            kind, t_s = _moment(name, label, info)
            found.append({"name": name, "url": url, "label": kind, "t_s": t_s})

    def walk(node: Any, top: str, parent: dict[str, Any]) -> None:
        if isinstance(node, str):
            add(node, top, parent)
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, top or key, node)
        elif isinstance(node, list):
            for item in node:
                walk(item, top, parent)

    walk(report, "", {})
    for name in names:  # files the report does not mention still belong to the video
        add(name, "", {})
    return sorted(found, key=lambda th: (th["t_s"] is None, th["t_s"] or 0.0))
