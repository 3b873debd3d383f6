"""The web service: an upload form for merchants and a JSON API for ticket systems.

    from validator.web import create_app
    app = create_app()                   # settings from APPEAL_VALIDATOR_* and DATABASE_URL
    gunicorn 'validator.web:create_app()'

Blueprints: ``form`` (server-rendered pages), ``history`` (a merchant's checks and their
share links), ``resumable`` (the form's chunked uploads), ``api`` (``/api/v1``); ``errors``
turns every error into one JSON body (or an HTML page for the form). Jobs, files and
webhooks live in ``validator.jobs``; this package is a thin adapter over them.
"""

from __future__ import annotations

import atexit
import logging
import mimetypes
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, g

from validator.jobs import settings as settings_mod
from validator.jobs.partial import PartialUploads, partial_uploads
from validator.jobs.recordings import Limits, Recordings
from validator.jobs.settings import Settings
from validator.jobs.storage import LocalStorage, local_storage
from validator.jobs.store import WEB_TENANT, Store, hash_key
from validator.jobs.tables import ApiKey, Check, Tenant, utcnow
from validator.web.limits import SlidingWindow

log = logging.getLogger(__name__)

AUTH_CACHE_S = 5.0


@dataclass
class Services:
    """What the blueprints use: ``app.extensions["appeal"]``."""

    settings: Settings
    store: Store
    storage: LocalStorage
    tmp_dir: Path
    web_tenant_id: int
    failed_keys: SlidingWindow  # unknown API keys per client address (validator.web.limits)
    form_posts: SlidingWindow  # the form's anonymous posts per client address
    recordings: Recordings  # the recording sessions (validator.web.record)
    partial_uploads: PartialUploads  # the form's resumable uploads (validator.web.resumable)
    # The time share links are made, expire and are revoked at (tests move it on).
    now: Callable[[], datetime] = utcnow
    _closed: bool = field(default=False, repr=False)
    _auth_cache: dict[str, tuple[float, tuple[ApiKey, Tenant]]] = field(
        default_factory=dict, repr=False
    )

    def authenticate(self, key: str) -> tuple[ApiKey, Tenant] | None:
        """The live key and its tenant, or None. Hits are cached for AUTH_CACHE_S: a
        third of the CPU of a status poll is this lookup; a revocation takes effect
        within those seconds."""
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._auth_cache.get(digest)
        if hit is not None and now - hit[0] < AUTH_CACHE_S:
            return hit[1]
        found = self.store.authenticate(key)
        if found is not None:
            if len(self._auth_cache) > 10_000:  # bound the memory of a key-guessing storm
                self._auth_cache.clear()
            self._auth_cache[digest] = (now, found)
        else:
            self._auth_cache.pop(digest, None)
        return found

    def thumbnail_names(self, row: Check) -> list[str]:
        """The image files derived from the check's video, by name."""
        folder = self.storage.derived_dir(str(row.tenant_id), row.id)
        if row.status != "done" or not folder.is_dir():
            return []
        return sorted(
            p.name
            for p in folder.iterdir()
            if p.is_file() and (mimetypes.guess_type(p.name)[0] or "").startswith("image/")
        )

    def delete(self, row: Check) -> None:
        """Remove the check, its video and everything derived from it."""
        # The row first: a running job then cannot finish (its owner's update finds no row).
        self.store.delete_check(row.id)
        self.storage.delete_check(str(row.tenant_id), row.id)

    def close(self) -> None:
        """Release the database (tests; shutdown)."""
        if self._closed:
            return
        self._closed = True
        self.store.close()


def localized(item: Any, lang: str) -> str:
    """A reason or an action of the predictor in ``lang``: 'title: text' or its message."""
    if not isinstance(item, Mapping):
        return str(item)

    def pick(stem: str) -> str:
        return str(item.get(f"{stem}_{lang}") or item.get(f"{stem}_en") or item.get(stem) or "")

    title = pick("title")
    text = pick("text") or pick("message") or pick("need")
    if title and text:
        return f"{title}: {text}"
    return title or text or str(item.get("code") or item.get("id") or "")


def csp_nonce() -> str:
    """This response's nonce for inline ``<style>``/``<script>`` (templates call it)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def content_security_policy() -> str:
    """The pages' policy: their own files only (style.css, app.js, the thumbnails, the
    check's video), and
    inline only what carries this response's nonce; no plugins, frames or <base>."""
    nonce = f"'nonce-{csp_nonce()}'"
    return (
        f"default-src 'self'; script-src 'self' {nonce}; style-src 'self' {nonce}; "
        "img-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app factory. ``test_config`` overrides the environment's settings.

    The service's settings are ``app.extensions["appeal"].settings`` (typed, read by
    the library); ``app.config`` gets them too, by name, as Flask apps show theirs.
    """
    app = Flask(__name__)
    # Flask defines SESSION_COOKIE_SAMESITE (None): a setdefault would keep None. Set
    # here, before the environment and test_config, which may still override it.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config.from_prefixed_env("APPEAL_VALIDATOR")  # Flask's own keys (SESSION_*, ...)
    if test_config:
        app.config.update(test_config)
    cfg = settings_mod.from_env(overrides=test_config)
    data_dir = settings_mod.ensure_data_dir(cfg)
    app.config.update(cfg.as_config())
    app.config["SECRET_KEY"] = settings_mod.secret_key(cfg)
    # The body may carry the form fields and the case besides the video: 1 MiB slack;
    # the video's own size is checked against MAX_UPLOAD_MB once stored.
    app.config["MAX_CONTENT_LENGTH"] = (cfg.max_upload_mb + 1) << 20
    app.config["MAX_FORM_MEMORY_SIZE"] = 1 << 20
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese reasons stay readable

    from validator.web.uploads import MAX_FORM_PARTS, UploadRequest

    app.request_class = UploadRequest
    # Each file part is a spooled temporary file: bound them (werkzeug allows 1,000).
    app.config["MAX_FORM_PARTS"] = MAX_FORM_PARTS
    if cfg.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # remote_addr from X-Forwarded-For, as many entries from the right as there are
        # proxies we run: entries further left are whatever the client wrote.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg.trusted_proxies)  # type: ignore[method-assign]

    store = Store(cfg.database_url)
    web_tenant = store.tenant(WEB_TENANT)
    assert web_tenant is not None
    services = Services(
        settings=cfg,
        store=store,
        storage=local_storage(data_dir),
        tmp_dir=data_dir / "tmp",
        web_tenant_id=web_tenant.id,
        failed_keys=SlidingWindow(cfg.failed_keys_per_min),
        form_posts=SlidingWindow(cfg.form_posts_per_min),
        partial_uploads=partial_uploads(data_dir, cfg.upload_expiry_s, cfg.upload_max_age_s),
        recordings=Recordings(
            data_dir / "recordings",
            Limits(
                chunk_interval_s=cfg.recording_chunk_s,
                max_chunks=cfg.recording_max_chunks,
                max_chunk_bytes=cfg.recording_max_chunk_mb << 20,
                max_total_bytes=cfg.max_upload_mb << 20,
                max_open=cfg.recording_max_open,
            ),
            clock=(test_config or {}).get("CLOCK"),
        ),
    )
    # The web process only enqueues; workers run the jobs (serve starts one beside it).
    from validator.jobs.tasks import celery_init_app

    celery_init_app(app, cfg)
    atexit.register(services.close)
    app.extensions["appeal"] = services

    from validator.web import api, errors, form, history, record, resumable, verify

    errors.register(app)
    app.add_template_filter(localized)
    app.register_blueprint(api.bp)
    app.register_blueprint(form.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(resumable.bp)
    app.register_blueprint(record.bp)
    app.register_blueprint(verify.bp)

    app.add_template_global(csp_nonce)
    from validator.web.i18n import error_text

    app.add_template_global(error_text)

    @app.after_request
    def security_headers(resp: Any) -> Any:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if resp.mimetype == "text/html":
            resp.headers.setdefault("X-Frame-Options", "DENY")
            resp.headers.setdefault("Content-Security-Policy", content_security_policy())
        return resp

    return app


__all__ = ["Services", "create_app"]
