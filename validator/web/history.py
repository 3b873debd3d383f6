"""The form's history and share links (issue 12): a merchant's checks, newest first, and
read-only links to one check for a colleague on another device.

The merchant is the browser session that uploaded the checks (``form``: the form has
no accounts). A share link is ``/s/<token>``: 256 random bits
(``secrets.token_urlsafe``) of which the store keeps only the sha256; it opens the
report, its pictures, its JSON and PDF, and the original video(s) with their previews
(faces, the waybill's name and address: the share page says so), read-only, until it
expires (the setting
``SHARE_TTL_H``) or its owner revokes it. An unknown, revoked or expired token is the
same 404, so a visitor learns nothing from the difference. Posts here pass the form's
rate limit and CSRF check (``form.guard_posts``) before their body is read.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, redirect, session, url_for
from flask.typing import ResponseReturnValue

from validator.jobs.tables import Check, Share
from validator.timeutil import SHANGHAI
from validator.web.errors import NotFound
from validator.web.form import (
    _own,
    _page,
    evidence_pdf_of,
    guard_posts,
    picture_of,
    preview_of,
    report_context,
    video_of,
)

bp = Blueprint("history", __name__)
bp.before_request(guard_posts)

HISTORY_LIMIT = 200  # checks listed; a merchant's browser session rarely has more


def china_time(dt: datetime | None) -> str:
    """``2026-11-30 15:04`` in China time (the form's times are UTC+8 too)."""
    return "" if dt is None else dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _now() -> datetime:
    return current_app.extensions["appeal"].now()


@bp.get("/checks")
def index() -> Response:
    """The session's checks, newest first, with their verdict and date."""
    svc = current_app.extensions["appeal"]
    sid = session.get("sid")
    rows = svc.store.session_checks(svc.web_tenant_id, sid, limit=HISTORY_LIMIT) if sid else []
    items = [
        {
            "check": row,
            "at": china_time(row.created_at),
            "verdict": (row.report or {}).get("verdict") if row.status == "done" else None,
        }
        for row in rows
    ]
    return _page("history.html", items=items)


def _share_state(share: Share, now: datetime) -> str:
    if share.revoked_at is not None:
        return "revoked"
    return "live" if share.live(now) else "expired"


@bp.get("/checks/<check_id>/share")
def share_page(check_id: str) -> Response:
    """The check's links (state, dates) and the button that makes a new one."""
    row = _own(check_id)
    svc = current_app.extensions["appeal"]
    now = _now()
    links = [
        {"share": s, "state": _share_state(s, now), "created": china_time(s.created_at),
         "expires": china_time(s.expires_at)}
        for s in svc.store.shares(row.id)
    ]  # fmt: skip
    # The token of a link just made, shown this once (the store keeps only its hash).
    new = session.pop("new_share", None)
    new_url = None
    if isinstance(new, dict) and new.get("check_id") == row.id:
        new_url = url_for("history.shared", token=new["token"], _external=True)
    return _page(
        "share.html",
        check=row,
        links=links,
        new_url=new_url,
        ttl_h=round(svc.settings.share_ttl_h, 1),
    )


@bp.post("/checks/<check_id>/shares")
def create_share(check_id: str) -> ResponseReturnValue:
    row = _own(check_id)
    svc = current_app.extensions["appeal"]
    _, token = svc.store.create_share(
        row.id, now=_now(), ttl=timedelta(hours=svc.settings.share_ttl_h)
    )
    # Post/redirect/get: a reload does not make another link. The token rides in the
    # owner's own signed cookie for that one redirect.
    session["new_share"] = {"check_id": row.id, "token": token}
    return redirect(url_for("history.share_page", check_id=row.id), code=303)


@bp.post("/checks/<check_id>/shares/<int:share_id>/revoke")
def revoke_share(check_id: str, share_id: int) -> ResponseReturnValue:
    row = _own(check_id)
    svc = current_app.extensions["appeal"]
    if svc.store.revoke_share(share_id, check_id=row.id, now=_now()):
        session["notice"] = "share_revoked"
    return redirect(url_for("history.share_page", check_id=row.id), code=303)


# -- the shared, read-only view ----------------------------------------------------------


def _shared(token: str) -> Check:
    if len(token) > 100:  # no hashing of megabyte-long paths
        raise NotFound("no such share link")
    row = current_app.extensions["appeal"].store.shared_check(token, now=_now())
    if row is None:
        raise NotFound("no such share link", details={"reason": "share_invalid"})
    return row


def _private(resp: Response) -> Response:
    # The token is the key: no shared cache keeps the page, no search engine lists it.
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


@bp.get("/s/<token>")
def shared(token: str) -> Response:
    """The report, read-only: no delete, no share, no link to the owner's pages."""
    row = _shared(token)
    if row.status != "done":
        return _private(_page("shared_pending.html", check=row))

    def picture(name: str) -> str:
        return url_for("history.shared_thumbnail", token=token, name=name)

    def media(kind: str) -> str:
        return url_for(f"history.shared_{kind}", token=token)

    ctx: dict[str, Any] = report_context(row, picture, media)
    json_url = url_for("history.shared_json", token=token)
    pdf_url = url_for("history.shared_pdf", token=token)
    return _private(_page("shared.html", shared_json_url=json_url, shared_pdf_url=pdf_url, **ctx))


@bp.get("/s/<token>/video")
def shared_video(token: str) -> Response:
    """The checked file, for the shared report's player (HTTP Range)."""
    return _private(video_of(_shared(token)))


@bp.get("/s/<token>/preview.mp4")
def shared_preview(token: str) -> Response:
    """The H.264 preview, when browsers cannot play the original."""
    return _private(preview_of(_shared(token)))


@bp.get("/s/<token>/evidence.pdf")
def shared_pdf(token: str) -> Response:
    """The evidence report PDF, in the page's language."""
    return _private(evidence_pdf_of(_shared(token)))


@bp.get("/s/<token>/report.json")
def shared_json(token: str) -> Response:
    row = _shared(token)
    if row.status != "done" or row.report is None:
        raise NotFound("the shared check has no report yet", details={"status": row.status})
    resp = current_app.response_class(
        json.dumps(row.report, ensure_ascii=False, indent=2), mimetype="application/json"
    )
    resp.headers["Content-Disposition"] = f'attachment; filename="report-{row.id[:8]}.json"'
    return _private(resp)


@bp.get("/s/<token>/thumbnails/<name>")
def shared_thumbnail(token: str, name: str) -> Response:
    return _private(picture_of(_shared(token), name))
