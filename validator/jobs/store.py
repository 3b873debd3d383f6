"""The job store: every query over tenants, hashed API keys, checks and webhook
deliveries (SQLAlchemy 2; the tables are ``tables.py``).

SQLite in DATA_DIR by default (WAL, so the web threads and the worker processes can
share it), PostgreSQL when ``DATABASE_URL`` says so. Every state change of a job is
one conditional UPDATE (``WHERE status = ... AND lease_owner = ...``), so two workers,
or a worker and a late duplicate message, can never both own or finish a job.
The schema is Alembic's: ``Store`` upgrades the database to the newest revision at
start-up (``validator/jobs/migrations``; ``appeal-validator db upgrade`` does it ahead).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, create_engine, delete, event, func, or_, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from validator.errors import ConfigError, UsageError
from validator.jobs.tables import (
    STATUSES,
    ApiKey,
    Check,
    Delivery,
    Preview,
    Share,
    Tenant,
    utcnow,
)

WEB_TENANT = "_web"  # the upload form's tenant; names starting with "_" are reserved
KEY_PREFIX = "av_"


def hash_key(key: str) -> str:
    """API keys are stored as their sha256: a leaked database leaks no usable key.

    (A plain hash suffices: keys are 256-bit random, so there is nothing to brute-force.)
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def canonical_hash(value: Any) -> str:
    """sha256 of a JSON value in canonical form (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def abandoned_error(attempts: int) -> dict[str, Any]:
    return {
        "code": "job_abandoned",
        "message": f"the analysis was interrupted {attempts} times "
        "(its process died); giving up. Check the file or try again later.",
        "details": {"attempts": attempts},
    }


def _rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (``Session.execute`` is typed as a plain Result)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers never block the writer; busy_timeout: writers wait instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except Exception as e:  # bad URL or missing driver: say which setting
        raise ConfigError(
            f"cannot use DATABASE_URL {url!r}: {e}. For PostgreSQL install psycopg "
            "and use postgresql+psycopg://user:pass@host/db.",
            details={"setting": "DATABASE_URL"},
        ) from e
    return engine


class Store:
    """Every query the service makes. Returns detached rows (read their attributes)."""

    def __init__(self, url: str) -> None:
        """Opens ``url`` and brings its schema to the newest revision (``migrations``)."""
        self.url = url
        self.engine = make_engine(url)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        from validator.jobs import migrations

        try:
            migrations.upgrade(self.engine)
        except BaseException:
            self.engine.dispose()  # no half-open store: its pooled connection goes too
            raise

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._session() as s, s.begin():
            yield s

    # -- tenants and keys -------------------------------------------------------------

    def tenant(self, name: str, *, create: bool = True) -> Tenant | None:
        with self.session() as s:
            row = s.scalar(select(Tenant).where(Tenant.name == name))
            if row is not None or not create:
                return row
        try:
            with self.session() as s:
                row = Tenant(name=name)
                s.add(row)
            return row
        except IntegrityError:  # created concurrently
            return self.tenant(name, create=False)

    def create_key(
        self, tenant_name: str, *, callback_url: str | None = None, internal: bool = False
    ) -> tuple[ApiKey, str]:
        """A new key for ``tenant_name`` (created if new): the row and the key, shown once."""
        if not internal and (not tenant_name or tenant_name.startswith("_")):
            raise UsageError(
                f"tenant name {tenant_name!r} is reserved or empty; use letters, digits, - _ ."
            )
        tenant = self.tenant(tenant_name)
        assert tenant is not None
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            id="key_" + secrets.token_hex(6),
            tenant_id=tenant.id,
            key_hash=hash_key(key),
            prefix=key[:10],
            callback_url=callback_url,
            webhook_secret="whsec_" + secrets.token_urlsafe(32),
        )
        with self.session() as s:
            s.add(row)
        return row, key

    def authenticate(self, key: str) -> tuple[ApiKey, Tenant] | None:
        """The live key and its tenant, or None (unknown or revoked)."""
        with self.session() as s:
            found = s.execute(
                select(ApiKey, Tenant)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
            ).first()
            return None if found is None else (found[0], found[1])

    def api_keys(self, tenant_name: str | None = None) -> list[tuple[ApiKey, Tenant]]:
        with self.session() as s:
            q = select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id)
            if tenant_name is not None:
                q = q.where(Tenant.name == tenant_name)
            return [(k, t) for k, t in s.execute(q.order_by(ApiKey.created_at))]

    def key(self, key_id: str) -> ApiKey | None:
        with self.session() as s:
            return s.get(ApiKey, key_id)

    def revoke_key(self, key_id: str) -> bool:
        with self.session() as s:
            res = s.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return _rowcount(res) == 1

    # -- checks -----------------------------------------------------------------------

    def create_check(self, **fields: Any) -> tuple[Check, bool]:
        """Insert a queued check; with an idempotency key already used, the existing one.

        Returns ``(row, created)``.
        """
        fields.setdefault("id", str(uuid.uuid4()))
        row = Check(status="queued", progress=0.0, stage="queued", attempts=0, **fields)
        try:
            with self.session() as s:
                s.add(row)
            return row, True
        except IntegrityError:
            if not fields.get("idempotency_key"):
                raise
            existing = self.by_idempotency_key(fields["tenant_id"], fields["idempotency_key"])
            if existing is None:
                raise
            return existing, False

    def by_idempotency_key(self, tenant_id: int, key: str) -> Check | None:
        with self.session() as s:
            return s.scalar(
                select(Check).where(Check.tenant_id == tenant_id, Check.idempotency_key == key)
            )

    def get(self, check_id: str, *, tenant_id: int | None = None) -> Check | None:
        """The check, or None; with ``tenant_id``, None for another tenant's check."""
        with self.session() as s:
            row = s.get(Check, check_id)
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                return None
            return row

    def get_with_deliveries(
        self, check_id: str, *, tenant_id: int
    ) -> tuple[Check, list[Delivery]] | None:
        """The tenant's check and its webhook deliveries, in one transaction (status polls)."""
        with self.session() as s:
            row = s.get(Check, check_id)
            if row is None or row.tenant_id != tenant_id:
                return None
            deliveries = s.scalars(
                select(Delivery).where(Delivery.check_id == check_id).order_by(Delivery.id)
            ).all()
            return row, list(deliveries)

    def tenant_checks(
        self, tenant_id: int, *, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[Check]:
        """The tenant's checks, newest first (``created_at``, then ``id``, descending), at
        most ``limit``; with ``after`` (the ``(created_at, id)`` of one already listed),
        those that follow it. Keyset pagination: a page never repeats or skips a check
        when new ones arrive meanwhile, as an offset would."""
        with self.session() as s:
            query = select(Check).where(Check.tenant_id == tenant_id)
            if after is not None:
                at, check_id = after
                query = query.where(
                    or_(Check.created_at < at, and_(Check.created_at == at, Check.id < check_id))
                )
            query = query.order_by(Check.created_at.desc(), Check.id.desc()).limit(limit)
            return list(s.scalars(query))

    def session_checks(self, tenant_id: int, web_session: str, *, limit: int) -> list[Check]:
        """The form's checks of one browser session, newest first, at most ``limit``."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(Check)
                    .where(Check.tenant_id == tenant_id, Check.web_session == web_session)
                    .order_by(Check.created_at.desc(), Check.id.desc())
                    .limit(limit)
                )
            )

    def delete_check(self, check_id: str) -> bool:
        with self.session() as s:
            s.execute(delete(Delivery).where(Delivery.check_id == check_id))
            s.execute(delete(Share).where(Share.check_id == check_id))
            s.execute(delete(Preview).where(Preview.check_id == check_id))
            return _rowcount(s.execute(delete(Check).where(Check.id == check_id))) == 1

    # -- share links ------------------------------------------------------------------

    def create_share(self, check_id: str, *, now: datetime, ttl: timedelta) -> tuple[Share, str]:
        """A new link to ``check_id``, open until ``now + ttl``: the row and its token,
        shown once (only its hash is kept, as for API keys)."""
        token = secrets.token_urlsafe(32)  # 256 bits: unguessable, nothing to rate-limit
        row = Share(check_id=check_id, token_hash=hash_key(token), created_at=now,
                    expires_at=now + ttl)  # fmt: skip
        with self.session() as s:
            s.add(row)
        return row, token

    def shares(self, check_id: str) -> list[Share]:
        """The check's links, newest first (revoked and expired ones too)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(Share)
                    .where(Share.check_id == check_id)
                    .order_by(Share.created_at.desc(), Share.id.desc())
                )
            )

    def revoke_share(self, share_id: int, *, check_id: str, now: datetime) -> bool:
        """Close the link ``share_id`` of ``check_id``; False if there is no such open one."""
        with self.session() as s:
            res = s.execute(
                update(Share)
                .where(Share.id == share_id, Share.check_id == check_id, Share.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return _rowcount(res) == 1

    def shared_check(self, token: str, *, now: datetime) -> Check | None:
        """The check a live link opens at ``now``; None for an unknown, revoked or
        expired token (all alike, so a visitor learns nothing from the difference)."""
        with self.session() as s:
            return s.scalar(
                select(Check)
                .join(Share, Share.check_id == Check.id)
                .where(
                    Share.token_hash == hash_key(token),
                    Share.revoked_at.is_(None),
                    Share.expires_at > now,
                )
            )

    # -- video previews (jobs/previews.py) --------------------------------------------

    def preview(self, check_id: str, index: int) -> Preview | None:
        """The preview row of ``check_id``'s ``index``-th video, or None."""
        with self.session() as s:
            return s.get(Preview, (check_id, index))

    def queue_preview(
        self, check_id: str, index: int, owner: str, *, now: datetime, resend_before: datetime
    ) -> bool:
        """Claim the making of a preview for the task ``owner`` (not sent yet): True when
        the caller must send it. The insert is the compare-and-set; where a row exists,
        only a ``queued`` one that never started and was queued before ``resend_before``
        (its message lost) is taken over. A deleted check's insert fails: False."""
        try:
            with self.session() as s:
                s.add(Preview(check_id=check_id, video_index=index, state="queued",
                              owner=owner, queued_at=now))  # fmt: skip
            return True
        except IntegrityError:
            pass
        with self.session() as s:
            res = s.execute(
                update(Preview)
                .where(
                    Preview.check_id == check_id,
                    Preview.video_index == index,
                    Preview.state == "queued",
                    Preview.queued_at < resend_before,
                )
                .values(owner=owner, queued_at=now)
            )
            return _rowcount(res) == 1

    def start_preview(self, check_id: str, index: int, owner: str, *, now: datetime) -> bool:
        """The task ``owner`` starts making the preview; False when it is not (or no
        longer) the one: another took the row over, it ended, or the check is gone. The
        same message delivered again (its process died) starts again."""
        with self.session() as s:
            res = s.execute(
                update(Preview)
                .where(
                    Preview.check_id == check_id,
                    Preview.video_index == index,
                    Preview.owner == owner,
                    Preview.state.in_(("queued", "making")),
                )
                .values(state="making", started_at=now)
            )
            return _rowcount(res) == 1

    def end_preview(
        self,
        check_id: str,
        index: int,
        owner: str,
        *,
        now: datetime,
        error: Mapping[str, Any] | None = None,
    ) -> bool:
        """``ready`` (no ``error``) or ``failed``, if ``owner`` still makes it."""
        with self.session() as s:
            res = s.execute(
                update(Preview)
                .where(
                    Preview.check_id == check_id,
                    Preview.video_index == index,
                    Preview.owner == owner,
                    Preview.state == "making",
                )
                .values(
                    state="failed" if error else "ready",
                    error=dict(error) if error else None,
                    finished_at=now,
                )
            )
            return _rowcount(res) == 1

    def existing(self, check_ids: Iterable[str]) -> set[str]:
        """The ones of ``check_ids`` that have a row (the storage sweeper asks)."""
        ids = list(check_ids)
        out: set[str] = set()
        with self.session() as s:
            for i in range(0, len(ids), 500):  # bounded IN lists
                out.update(s.scalars(select(Check.id).where(Check.id.in_(ids[i : i + 500]))))
        return out

    def counts(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.execute(select(Check.status, func.count()).group_by(Check.status)).all()
        out = dict.fromkeys(STATUSES, 0)
        out.update({status: n for status, n in rows})
        return out

    def find_reusable(
        self, tenant_id: int, sha256: str, facts_hash: str, policy_digest: str, exclude: str
    ) -> Check | None:
        """A finished check of the same tenant with the same file, facts and policy."""
        with self.session() as s:
            return s.scalar(
                select(Check)
                .where(
                    Check.tenant_id == tenant_id,
                    Check.sha256 == sha256,
                    Check.facts_hash == facts_hash,
                    Check.policy_digest == policy_digest,
                    Check.status == "done",
                    Check.id != exclude,
                )
                .order_by(Check.finished_at.desc())
                .limit(1)
            )

    # -- the job life cycle -----------------------------------------------------------

    def claim(self, check_id: str, owner: str, lease_s: float) -> bool:
        """queued -> running for ``owner``; False when someone else got it first."""
        now = utcnow()
        with self.session() as s:
            res = s.execute(
                update(Check)
                .where(Check.id == check_id, Check.status == "queued")
                .values(
                    status="running",
                    stage="starting",
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_s),
                    started_at=now,
                    attempts=Check.attempts + 1,
                )
            )
            return _rowcount(res) == 1

    def claim_next(self, owner: str, lease_s: float, *, tenant_limit: int = 0) -> str | None:
        """The fairest queued job -> running for ``owner``: its id, or None when no queued
        job may start now.

        Fair is round-robin by tenant: among the tenants with a queued job and fewer than
        ``tenant_limit`` running (0: no limit), the one with the fewest jobs running, then
        the one whose last job started longest ago (never: first); its oldest queued job.
        The claim is a compare-and-set; one that lost a race tries the next choice. A
        claim that took its tenant past the limit (two workers choosing at once) is
        given back.
        """
        never = datetime.min.replace(tzinfo=UTC)
        for _ in range(8):
            with self.session() as s:
                waiting = dict(
                    s.execute(
                        select(Check.tenant_id, func.min(Check.created_at))
                        .where(Check.status == "queued")
                        .group_by(Check.tenant_id)
                    ).all()
                )
                if not waiting:
                    return None
                running = dict(
                    s.execute(
                        select(Check.tenant_id, func.count())
                        .where(Check.status == "running", Check.tenant_id.in_(waiting))
                        .group_by(Check.tenant_id)
                    ).all()
                )
                last = dict(
                    s.execute(
                        select(Check.tenant_id, func.max(Check.started_at))
                        .where(Check.tenant_id.in_(waiting))
                        .group_by(Check.tenant_id)
                    ).all()
                )
            open_ = [t for t in waiting if not tenant_limit or running.get(t, 0) < tenant_limit]
            if not open_:
                return None
            tenant = min(open_, key=lambda t: (running.get(t, 0), last.get(t) or never, waiting[t]))
            with self.session() as s:
                check_id = s.scalar(
                    select(Check.id)
                    .where(Check.status == "queued", Check.tenant_id == tenant)
                    .order_by(Check.created_at, Check.id)
                    .limit(1)
                )
            if check_id is None or not self.claim(check_id, owner, lease_s):
                continue  # another worker was quicker: choose again
            if tenant_limit and self._running_count(tenant) > tenant_limit:
                self._give_back(check_id, owner)
                continue
            return check_id
        return None

    def _running_count(self, tenant_id: int) -> int:
        with self.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(Check)
                    .where(Check.status == "running", Check.tenant_id == tenant_id)
                )
                or 0
            )

    def _give_back(self, check_id: str, owner: str) -> None:
        """Undo ``claim``: running for ``owner`` -> queued, as it was."""
        with self.session() as s:
            s.execute(
                update(Check)
                .where(Check.id == check_id, Check.status == "running", Check.lease_owner == owner)
                .values(
                    status="queued",
                    stage="queued",
                    lease_owner=None,
                    lease_until=None,
                    started_at=None,
                    attempts=Check.attempts - 1,
                )
            )

    def running_of(self, delivery: str) -> Check | None:
        """The job that the message ``delivery`` (a task key) runs, if any."""
        with self.session() as s:
            return s.scalar(
                select(Check).where(
                    Check.status == "running", Check.lease_owner.startswith(f"{delivery}@")
                )
            )

    def has_queued(self) -> bool:
        with self.session() as s:
            return s.scalar(select(Check.id).where(Check.status == "queued").limit(1)) is not None

    def take_over(self, check_id: str, old_owner: str, owner: str, lease_s: float) -> bool:
        """running under ``old_owner`` (whose process is gone) -> running for ``owner``."""
        now = utcnow()
        with self.session() as s:
            res = s.execute(
                update(Check)
                .where(
                    Check.id == check_id,
                    Check.status == "running",
                    Check.lease_owner == old_owner,
                )
                .values(
                    stage="starting",
                    progress=0.0,
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease_s),
                    started_at=now,
                    attempts=Check.attempts + 1,
                )
            )
            return _rowcount(res) == 1

    def set_progress(self, check_id: str, owner: str, fraction: float, stage: str) -> bool:
        with self.session() as s:
            res = s.execute(
                update(Check)
                .where(Check.id == check_id, Check.status == "running", Check.lease_owner == owner)
                .values(progress=round(max(0.0, min(1.0, fraction)), 4), stage=stage[:32])
            )
            return _rowcount(res) == 1

    def _end(self, check_id: str, owner: str | None, values: dict[str, Any]) -> bool:
        now = utcnow()
        with self.session() as s:
            cond = [Check.id == check_id, Check.status.in_(("queued", "running"))]
            if owner is not None:
                cond.append(Check.lease_owner == owner)
            res = s.execute(
                update(Check)
                .where(*cond)
                .values(finished_at=now, lease_owner=None, lease_until=None, **values)
            )
            if _rowcount(res) != 1:
                return False
            row = s.get(Check, check_id)
            assert row is not None
            url = self._callback_url(s, row)
            if url:
                from validator.jobs.webhooks import event_body

                event = f"check.{values['status']}"
                s.add(
                    Delivery(
                        check_id=check_id,
                        event=event,
                        url=url,
                        attempt=1,
                        status="pending",
                        scheduled_at=now,
                        body=event_body(event, row),
                    )
                )
            return True

    @staticmethod
    def _callback_url(s: Session, row: Check) -> str | None:
        if row.callback_url:
            return row.callback_url
        if row.api_key_id:
            key = s.get(ApiKey, row.api_key_id)
            return key.callback_url if key is not None else None
        return None

    def finish(
        self,
        check_id: str,
        owner: str | None,
        report: dict[str, Any],
        *,
        reused_from: str | None = None,
    ) -> bool:
        """running -> done with ``report`` (and queues the webhook); False if not ours."""
        return self._end(
            check_id,
            owner,
            {
                "status": "done",
                "progress": 1.0,
                "stage": "done",
                "report": report,
                "error": None,
                "reused_from": reused_from,
            },
        )

    def fail(self, check_id: str, owner: str | None, error: Mapping[str, Any]) -> bool:
        """-> failed with ``error`` (the JSON error object); False if not ours."""
        return self._end(
            check_id, owner, {"status": "failed", "stage": "failed", "error": dict(error)}
        )

    def running(self) -> list[Check]:
        """The running checks (the worker's recovery looks for dead owners among them)."""
        with self.session() as s:
            return list(s.scalars(select(Check).where(Check.status == "running")))

    def requeue(self, rows: Iterable[Check], max_attempts: int) -> tuple[list[str], list[str]]:
        """Running jobs whose owner is gone: requeue, or fail after ``max_attempts``.

        Each is a compare-and-set on the owner read with the row: a job that moved on
        meanwhile is left alone. Returns the ids ``(requeued, failed)``.
        """
        requeued: list[str] = []
        failed: list[str] = []
        for row in rows:
            if row.attempts >= max_attempts:
                error = abandoned_error(row.attempts)
                if self.fail(row.id, row.lease_owner, error):
                    failed.append(row.id)
                continue
            with self.session() as s:
                res = s.execute(
                    update(Check)
                    .where(
                        Check.id == row.id,
                        Check.status == "running",
                        Check.lease_owner == row.lease_owner,
                    )
                    .values(
                        status="queued",
                        stage="queued",
                        progress=0.0,
                        lease_owner=None,
                        lease_until=None,
                    )
                )
                if _rowcount(res):
                    requeued.append(row.id)
        return requeued, failed

    def queued_before(self, before: datetime, limit: int = 1000) -> list[str]:
        """Ids of queued jobs created before ``before``, oldest first."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(Check.id)
                    .where(Check.status == "queued", Check.created_at < before)
                    .order_by(Check.created_at)
                    .limit(limit)
                )
            )

    # -- webhook deliveries -----------------------------------------------------------

    def deliveries(self, check_id: str) -> list[Delivery]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(Delivery).where(Delivery.check_id == check_id).order_by(Delivery.id)
                )
            )

    def claim_due_delivery(
        self, *, skip_tenants: Collection[int] = ()
    ) -> tuple[Delivery, int] | None:
        """The earliest due delivery, pending -> sending, and its check's tenant; None
        when none is due. ``skip_tenants`` (a sender's tenants in flight) wait their
        turn: one tenant's slow receiver must not take every sender thread."""
        now = utcnow()
        for _ in range(5):
            with self.session() as s:
                query = (
                    select(Delivery, Check.tenant_id)
                    .join(Check, Check.id == Delivery.check_id)
                    .where(Delivery.status == "pending", Delivery.scheduled_at <= now)
                )
                if skip_tenants:
                    query = query.where(Check.tenant_id.not_in(list(skip_tenants)))
                found = s.execute(query.order_by(Delivery.scheduled_at).limit(1)).first()
            if found is None:
                return None
            row, tenant_id = found
            with self.session() as s:
                res = s.execute(
                    update(Delivery)
                    .where(Delivery.id == row.id, Delivery.status == "pending")
                    .values(status="sending")
                )
                if _rowcount(res) == 1:
                    row.status = "sending"
                    return row, tenant_id
        return None

    def webhook_secret(self, check_id: str) -> str | None:
        with self.session() as s:
            row = s.get(Check, check_id)
            if row is None or row.api_key_id is None:
                return None
            key = s.get(ApiKey, row.api_key_id)
            return key.webhook_secret if key is not None else None

    def record_delivery(
        self,
        delivery: Delivery,
        *,
        ok: bool,
        response_status: int | None,
        error: str | None,
        duration_ms: int,
        retry_at: datetime | None,
    ) -> None:
        """Record one attempt; schedule the next one at ``retry_at`` (None: give up)."""
        with self.session() as s:
            s.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id)
                .values(
                    status="succeeded" if ok else "failed",
                    sent_at=utcnow(),
                    response_status=response_status,
                    error=error,
                    duration_ms=duration_ms,
                )
            )
            if not ok and retry_at is not None and s.get(Check, delivery.check_id) is not None:
                s.add(
                    Delivery(
                        check_id=delivery.check_id,
                        event=delivery.event,
                        url=delivery.url,
                        attempt=delivery.attempt + 1,
                        status="pending",
                        scheduled_at=retry_at,
                        body=delivery.body,
                    )
                )

    def requeue_stuck_deliveries(self, older_than_s: float) -> int:
        """'sending' rows left by a dead process go back to pending."""
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        with self.session() as s:
            return _rowcount(
                s.execute(
                    update(Delivery)
                    .where(Delivery.status == "sending", Delivery.scheduled_at < cutoff)
                    .values(status="pending")
                )
            )
