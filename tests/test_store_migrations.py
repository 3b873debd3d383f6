"""The job store's schema is Alembic's: fresh, adopted and compared with the models.

Each test runs on SQLite and, when a server is reachable, on PostgreSQL (a fresh
database per test, dropped after): ``APPEAL_VALIDATOR_TEST_PG_URL`` (an admin URL, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``), by default the server
tests/test_celery_worker.py uses (postgres@127.0.0.1:5432); skips saying why otherwise.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url

from validator import cli
from validator.errors import ConfigError
from validator.jobs import migrations
from validator.jobs.store import Store, make_engine
from validator.jobs.tables import Base

PG_ADMIN_URL = os.environ.get(
    "APPEAL_VALIDATOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TABLES = {"tenants", "api_keys", "checks", "webhook_deliveries", "check_shares", "check_previews"}


def _reachable(url: str) -> bool:
    u = make_url(url)
    try:
        with socket.create_connection((u.host or "127.0.0.1", u.port or 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'appeal.db'}"
        return
    u = make_url(PG_ADMIN_URL)
    if not _reachable(PG_ADMIN_URL):
        pytest.skip(
            f"PostgreSQL is not reachable at {u.host}:{u.port or 5432} "
            "(set APPEAL_VALIDATOR_TEST_PG_URL; CI provides it)"
        )
    pytest.importorskip("psycopg", reason="psycopg is not installed (extra postgres)")
    name = f"av_migr_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield u.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _differences(engine: Engine, metadata: MetaData = Base.metadata) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def _differences_but_unnamed_uniques(engine: Engine) -> list[object]:
    """The differences, less SQLite's unnamed unique constraints that the models name
    (create_all on SQLite named none; the columns are unique all the same)."""
    insp = inspect(engine)
    unnamed = {
        (t, tuple(c["column_names"]))
        for t in TABLES
        for c in insp.get_unique_constraints(t)
        if c["name"] is None
    }
    return [
        d
        for d in _differences(engine)
        if not (
            d[0] == "add_constraint"  # type: ignore[index]
            and (d[1].table.name, tuple(d[1].columns.keys())) in unnamed  # type: ignore[index]
        )
    ]


def _pre_migrations_metadata() -> MetaData:
    """The models as create_all saw them before migrations: no naming convention, so
    every constraint is left for the database to name."""
    old = MetaData()
    for table in Base.metadata.sorted_tables:
        if table.name in LATER_TABLES:
            continue
        copy = table.to_metadata(old)
        for index in list(copy.indexes):
            if index.name in LATER_INDEXES:  # added by a revision after the baseline
                copy.indexes.discard(index)
    return old


# Indexes the models gained after 0.2.0 (each with its revision): create_all never made them.
LATER_INDEXES = {"ix_checks_tenant_id_created_at"}  # 0002
# Tables the models gained after 0.2.0 (each with its revision).
LATER_TABLES = {"check_shares", "check_previews"}  # 0003, 0004


def _constraint_names(engine: Engine) -> dict[str, set[str | None]]:
    insp = inspect(engine)
    out: dict[str, set[str | None]] = {}
    for t in sorted(TABLES - LATER_TABLES):
        names = {insp.get_pk_constraint(t).get("name")}
        names |= {c["name"] for c in insp.get_unique_constraints(t)}
        names |= {c["name"] for c in insp.get_foreign_keys(t)}
        names |= {i["name"] for i in insp.get_indexes(t)}
        out[t] = names
    return out


def test_a_fresh_store_is_at_head(db_url: str) -> None:
    store = Store(db_url)
    try:
        st = migrations.state(store.engine)
        assert st.revision == migrations.head() and st.at_head
        assert set(inspect(store.engine).get_table_names()) == TABLES | {"alembic_version"}
        store.create_key("acme")  # the schema works for the queries
        assert len(store.api_keys("acme")) == 1
    finally:
        store.close()


def test_the_migrated_schema_is_the_models(db_url: str) -> None:
    """A model changed without a migration fails here (the same comparison, made
    sensitive by one column the migrations do not have, finds it)."""
    Store(db_url).close()
    engine = make_engine(db_url)
    try:
        assert _differences(engine) == []
        changed = MetaData(naming_convention=Base.metadata.naming_convention)
        for table in Base.metadata.sorted_tables:
            table.to_metadata(changed)
        changed.tables["checks"].append_column(Column("priority", Integer))
        diff = _differences(engine, changed)
        # ("add_column", schema, table, column)
        assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "checks", "priority")]  # type: ignore[index]
    finally:
        engine.dispose()


def test_a_create_all_database_is_adopted_with_its_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        _pre_migrations_metadata().create_all(engine)
        with engine.begin() as conn:
            for name in ("old-1", "acme"):  # ids from the database's own sequence
                conn.execute(
                    text("INSERT INTO tenants (name, created_at) VALUES (:n, '2026-11-01')"),
                    {"n": name},
                )
            acme = conn.execute(text("SELECT id FROM tenants WHERE name = 'acme'")).scalar()
            conn.execute(
                text(
                    "INSERT INTO checks (id, tenant_id, status, progress, stage, size_bytes,"
                    " sha256, facts_hash, policy, policy_digest, report, created_at, attempts)"
                    " VALUES ('c-old', :acme, 'done', 1.0, 'done', 123, 'ab', 'cd', 'taobao',"
                    " 'ef', :report, '2026-11-01 08:00:01', 1)"
                ),
                {"acme": acme, "report": '{"verdict": "review"}'},
            )
        before = migrations.state(engine)
        assert before.revision is None and before.unversioned
    finally:
        engine.dispose()

    store = Store(db_url)
    try:
        st = migrations.state(store.engine)
        assert st.at_head
        row = store.get("c-old")
        assert row is not None and row.report == {"verdict": "review"}
        assert row.size_bytes == 123 and row.tenant_id == store.tenant("acme").id == acme
        assert row.created_at.isoformat() == "2026-11-01T08:00:01+00:00"
        assert _differences_but_unnamed_uniques(store.engine) == []
        # New rows go on from the old ones (the id sequences were kept).
        assert store.tenant("beta").id > acme
    finally:
        store.close()


def test_adopted_and_fresh_databases_name_constraints_alike(db_url: str) -> None:
    """On PostgreSQL, create_all's names are the ones the migrations use, so a later
    migration can drop a constraint by name on an adopted database too."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite leaves create_all's constraints unnamed")
    engine = make_engine(db_url)
    try:
        _pre_migrations_metadata().create_all(engine)
        adopted = _constraint_names(engine)
    finally:
        engine.dispose()
    Store(db_url).close()
    fresh_url = db_url.rsplit("/", 1)[0] + "/" + make_url(db_url).database + "_f"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{make_url(fresh_url).database}"')
    try:
        store = Store(fresh_url)
        fresh = {t: names - LATER_INDEXES for t, names in _constraint_names(store.engine).items()}
        store.close()
        assert adopted == fresh
        assert "checks_tenant_id_idempotency_key_key" in fresh["checks"]
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f'DROP DATABASE IF EXISTS "{make_url(fresh_url).database}" WITH (FORCE)'
            )
        admin.dispose()


# Imports first, then the Store at the same instant in every process.
_START_TOGETHER = """
import sys, time
from validator.jobs.store import Store
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
Store(sys.argv[1]).close()
"""


def test_processes_starting_together_migrate_once(db_url: str) -> None:
    """The web, the workers and ``db upgrade`` may start at once: one migrates, the
    others wait and find the schema at head (no "table already exists")."""
    at = str(time.time() + 4)
    cmd = [sys.executable, "-c", _START_TOGETHER, db_url, at]
    procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    engine = make_engine(db_url)
    try:
        assert migrations.state(engine).at_head
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_a_foreign_or_newer_database_is_refused_with_a_reason(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE tenants (id INTEGER PRIMARY KEY)"))
        with pytest.raises(ConfigError, match="not api_keys, checks, webhook_deliveries"):
            Store(db_url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE tenants"))
        Store(db_url).close()
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(ConfigError, match=r"'9999'.*a newer version migrated it"):
            Store(db_url)
    finally:
        engine.dispose()


def test_db_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """``db current`` never creates the database; ``db upgrade`` brings it to head."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("APPEAL_VALIDATOR_DATABASE_URL", raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("APPEAL_VALIDATOR_DATA_DIR", str(data))
    head = migrations.head()

    assert cli.main(["db", "current"]) == 1
    assert "no database" in capsys.readouterr().out
    assert not (data / "appeal.db").exists()

    assert cli.main(["db", "upgrade"]) == 0
    assert f"-> {head}" in capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0
    assert "already at the newest revision" in capsys.readouterr().out
    assert cli.main(["db", "current"]) == 0
    out = capsys.readouterr().out
    assert f"current: {head}" in out and f"newest:  {head}" in out

    engine = make_engine(f"sqlite:///{data / 'appeal.db'}")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # as create_all left it
    engine.dispose()
    assert cli.main(["db", "current"]) == 1
    assert "adopts them" in capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0
    assert cli.main(["db", "current"]) == 0

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    assert cli.main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "cannot use the job store" in err and "secret" not in err


def test_0003_adds_share_links_to_a_database_at_0002(db_url: str) -> None:
    """A store at 0002 (checks, no share links) gains the table with its rows kept; a
    link's token is stored only as its hash, and the downgrade removes the table."""
    from datetime import UTC, datetime, timedelta

    from alembic import command

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            command.upgrade(migrations.config(conn), "0002")
            conn.commit()
        assert "check_shares" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    store = Store(db_url)
    try:
        assert migrations.state(store.engine).at_head
        tenant = store.tenant("acme")
        row, _ = store.create_check(
            tenant_id=tenant.id, sha256="ab", facts_hash="cd", policy="taobao", policy_digest="ef"
        )
        now = datetime(2026, 11, 30, tzinfo=UTC)
        share, token = store.create_share(row.id, now=now, ttl=timedelta(hours=1))
        assert share.token_hash != token and len(share.token_hash) == 64
        assert store.shared_check(token, now=now).id == row.id
        assert store.shared_check(token, now=now + timedelta(hours=1)) is None
        assert store.delete_check(row.id) and store.shares(row.id) == []
    finally:
        store.close()
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            command.downgrade(migrations.config(conn), "0002")
            conn.commit()
        assert "check_shares" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
