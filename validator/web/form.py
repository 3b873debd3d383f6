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
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from validator.jobs.tables import Check
from validator.models import REQUIREMENTS
from validator.web.errors import CsrfFailed, NotFound
from validator.web.i18n import CLAIMS, current_lang, labels
from validator.web.limits import refuse_if_over
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
    from validator.web.api import IMAGE_TYPES, image_response

    row = _own(check_id)
    svc = current_app.extensions["appeal"]
    path = svc.storage.derived_file(str(row.tenant_id), row.id, name)
    mime = mimetypes.guess_type(name)[0]
    if path is None or mime not in IMAGE_TYPES:
        raise NotFound(f"no picture {name!r}")
    return image_response(path, mime)


@bp.post("/checks/<check_id>/delete")
def delete(check_id: str) -> Response:
    row = _own(check_id)
    current_app.extensions["appeal"].delete(row)
    return _page("index.html", claims=CLAIMS, form={}, error=None, notice="deleted")


@bp.get("/checks/<check_id>")
def show(check_id: str) -> Response:
    row = _own(check_id)
    if row.status in ("queued", "running"):
        return _page("progress.html", check=row)
    if row.status == "failed":
        return _page("failed.html", check=row, error=row.error or {}, status=422)
    svc = current_app.extensions["appeal"]
    report = row.report or {}
    names = svc.thumbnail_names(row)
    # A case of several videos: the page shows one (?video=i) and lists them all.
    case = case_videos(svc.storage, row)
    videos = case["videos"] if case else []
    chosen = request.args.get("video", "0")
    shown = int(chosen) if chosen.isdigit() and int(chosen) < len(videos) else 0
    if case:
        if shown and videos[shown]["report"]:
            report = {**videos[shown]["report"], "prediction": report.get("prediction")}
        names = [n for n in names if n.startswith(f"v{shown}-")]
    return _page(
        "report.html",
        check=row,
        report=report,
        requirements=REQUIREMENTS,
        timeline=_timeline(report),
        thumbs=_thumbnails(report, names, row),
        prediction=report.get("prediction"),
        case=case,
        shown_video=shown,
    )


def _timeline(report: dict[str, Any]) -> dict[str, Any]:
    """Events placed on a 0-100 % strip of the video's duration."""
    duration = float((report.get("media") or {}).get("duration_s") or 0.0)
    marks = []
    for e in report.get("events") or []:
        t = float(e.get("t_s") or 0.0)
        length = float(e.get("length_s") or 0.0)
        if duration > 0:
            left = max(0.0, min(100.0, 100.0 * t / duration))
            width = max(0.0, min(100.0 - left, 100.0 * length / duration))
        else:
            left = width = 0.0
        marks.append({"kind": e.get("kind", "?"), "t_s": t, "length_s": length or None,
                      "left": round(left, 3), "width": round(width, 3)})  # fmt: skip
    ticks = []
    if duration > 0:
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if duration / s <= 8)
        n = 0
        while n * step <= duration:
            ticks.append({"t": n * step, "left": round(100.0 * n * step / duration, 3)})
            n += 1
    return {"duration_s": duration, "marks": marks, "ticks": ticks}


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


def _thumbnails(report: dict[str, Any], names: list[str], row: Check) -> list[dict[str, Any]]:
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
