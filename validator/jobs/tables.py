"""The job store's tables (SQLAlchemy 2 declarative models): tenants, API keys,
checks, webhook deliveries and the form's share links.

The queries over them are ``store.Store``; the schema history is Alembic's
(``validator/jobs/migrations``): a change here needs a revision in ``versions/``
(tests/test_store_migrations.py fails while the migrated schema and these differ).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from validator.timeutil import iso

STATUSES = ("queued", "running", "done", "failed")  # a check's status, in life-cycle order


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite drops the offset otherwise)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    # Constraint names are PostgreSQL's own defaults, so a database that ``create_all``
    # made before migrations existed has the names the migrations use, and a later
    # migration can drop or alter a constraint by name on both backends.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "%(table_name)s_%(column_0_N_name)s_key",
            "fk": "%(table_name)s_%(column_0_name)s_fkey",
            "pk": "%(table_name)s_pkey",
        }
    )


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    callback_url: Mapped[str | None] = mapped_column(Text)
    # Kept in clear: signing needs it (HMAC), exactly as Stripe's endpoint secrets.
    webhook_secret: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Check(Base):
    __tablename__ = "checks"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        # GET /api/v1/checks: a tenant's checks, newest first, page by page (0002)
        Index("ix_checks_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(32))
    web_session: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    filename: Mapped[str | None] = mapped_column(String(255))
    media_type: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    case: Mapped[dict | None] = mapped_column(JSON)
    facts_hash: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(100))
    policy_digest: Mapped[str] = mapped_column(String(64))
    report: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)
    reused_from: Mapped[str | None] = mapped_column(String(36))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    callback_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The delivery that runs the job (``tasks.owner_of``) and the time past which it
    # cannot still be running (the hard time limit); both None unless running.
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def to_dict(self, *, with_report: bool = True) -> dict[str, Any]:
        """The check as the API shows it (``report`` when done, ``error`` when failed)."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "progress": self.progress,
            "stage": self.stage,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "attempts": self.attempts,
            "file": {
                "filename": self.filename,
                "media_type": self.media_type,
                "size_bytes": self.size_bytes,
                "sha256": self.sha256,
            },
            "policy": self.policy,
            "callback_url": self.callback_url,
            "reused_from": self.reused_from,
        }
        if self.status == "done" and with_report:
            out["report"] = self.report
        if self.status == "done" and self.report:
            out["verdict"] = self.report.get("verdict")
        if self.status == "failed":
            out["error"] = self.error
        return out


class Delivery(Base):
    """One attempt to deliver one webhook event; a failed attempt schedules the next."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    # pending (due at scheduled_at) -> sending -> succeeded | failed
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "url": self.url,
            "attempt": self.attempt,
            "status": self.status,
            "scheduled_at": iso(self.scheduled_at),
            "sent_at": iso(self.sent_at),
            "response_status": self.response_status,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


class Share(Base):
    """A read-only link to one check of the form, for a colleague on another device.

    Only the token's sha256 is kept (as API keys are): a leaked database opens no
    report. A link ends at ``expires_at`` (the setting ``SHARE_TTL_H``) or when its
    owner revokes it; deleting the check deletes its links.
    """

    __tablename__ = "check_shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[str] = mapped_column(ForeignKey("checks.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def live(self, now: datetime) -> bool:
        """Whether the link opens the check at ``now``."""
        return self.revoked_at is None and now < self.expires_at


PREVIEW_STATES = ("queued", "making", "ready", "failed")  # a preview's life cycle


class Preview(Base):
    """The H.264 preview of one video of a check (``report/preview.py``), made by a
    worker (``jobs/previews.py``): at most one task per video at a time.

    The row is the compare-and-set that says who makes it (``owner``: the Celery task
    id it was sent with), so several web and worker processes never make it twice;
    ``failed`` keeps the reason the page shows. Deleting the check deletes its rows.
    """

    __tablename__ = "check_previews"

    check_id: Mapped[str] = mapped_column(
        ForeignKey("checks.id", ondelete="CASCADE"), primary_key=True
    )
    video_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(80))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[dict | None] = mapped_column(JSON)
