"""The schema comes from alembic migrations alone, and matches the models."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import String, bindparam, cast, event, insert, inspect, select, update

from digest.db import (
    BUSY_TIMEOUT_MS,
    WRITE_LOCK_POLL_SECONDS,
    DatabaseBusy,
    DatabaseFull,
    Prepared,
    alembic_config,
    current_revision,
    ensure_schema,
    make_engine,
    reading,
)
from digest.models import Base, Delivery, Subscriber, utcnow
from digest.unsubscribe import make_token
from tests.support import create_database, drop_database, postgres_only, sqlite_only


def test_migrations_build_exactly_the_models(engine):
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_to_nothing_and_back(engine):
    config = alembic_config(engine)
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    command.upgrade(config, "head")
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


@sqlite_only
def test_an_empty_sqlite_file_is_migrated_on_first_use(database_url):
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    ensure_schema(engine)
    assert current_revision(engine) is not None
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


@sqlite_only
def test_the_cli_migrates_by_itself_and_on_request(cli, database_url, tmp_path):
    result = cli("subscribers", "list")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "digest.sqlite3").exists()
    upgraded = cli("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "newest schema" in upgraded.stdout


def test_a_bad_database_url_is_a_clear_error(cli, settings):
    broken = dataclasses.replace(settings, database_url="nosuchdb://x")
    result = cli("subscribers", "list", settings_=broken)
    assert result.exit_code == 1
    assert "DIGEST_DATABASE_URL" in result.output


@postgres_only
def test_postgresql_is_migrated_on_request_only(cli, settings, tmp_path):
    empty = dataclasses.replace(settings, database_url=create_database(tmp_path, migrated=False))
    refused = cli("subscribers", "list", settings_=empty)
    assert refused.exit_code == 1
    assert "run 'digest db upgrade'" in refused.output
    assert current_revision(make_engine(empty.database_url)) is None
    upgraded = cli("db", "upgrade", settings_=empty)
    assert upgraded.exit_code == 0, upgraded.output
    assert cli("subscribers", "list", settings_=empty).exit_code == 0
    drop_database(empty.database_url)


HISTORY_INDEXES = {
    "ix_deliveries_digest_date_subscriber_id",
    "ix_delivery_items_paper_id_subscriber_id",
}


def _history_indexes(engine) -> set[str]:
    found = inspect(engine)
    names = {i["name"] for t in ("deliveries", "delivery_items") for i in found.get_indexes(t)}
    return names & HISTORY_INDEXES


def test_the_history_indexes_come_and_go_with_their_migration_and_keep_the_rows(engine):
    with engine.begin() as connection:
        connection.execute(
            insert(Subscriber.__table__).values(
                id=1,
                email="ada@example.org",
                name="",
                keywords={},
                exclude=[],
                max_papers=1,
                min_score=0.0,
                active=True,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        connection.execute(
            insert(Delivery.__table__).values(
                subscriber_id=1,
                digest_date=date(2026, 3, 2),
                status="sent",
                message_id="<m>",
                subject="s",
                attempts=1,
                created_at=utcnow(),
            )
        )
    assert _history_indexes(engine) == HISTORY_INDEXES
    config = alembic_config(engine)
    command.downgrade(config, "0005")
    assert _history_indexes(engine) == set()
    command.upgrade(config, "head")
    assert _history_indexes(engine) == HISTORY_INDEXES
    with engine.connect() as connection:
        rows = connection.execute(select(Delivery.subscriber_id, Delivery.message_id)).all()
    assert [tuple(r) for r in rows] == [(1, "<m>")]


@sqlite_only
def test_sqlite_runs_in_wal_mode_without_a_flush_per_commit(engine):
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # 1 is NORMAL: synced at checkpoints, not at every commit.
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@sqlite_only
def test_a_new_file_turns_to_wal_once_another_connection_lets_go_of_it(tmp_path):
    # A run migrating a new file holds its write lock before the file is in WAL mode. SQLite
    # answers a second run's switch to WAL with SQLITE_BUSY at once, skipping its busy wait.
    path = tmp_path / "new.sqlite3"
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("CREATE TABLE t (x)")
    first.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, first.execute, ["COMMIT"])
    release.start()
    started = time.monotonic()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    release.join()
    engine.dispose()
    first.close()
    assert mode == "wal"
    assert time.monotonic() - started >= 0.2


class _Holder(threading.Thread):
    """Another connection that takes the write lock and keeps it `seconds`."""

    def __init__(self, database_url: str, seconds: float) -> None:
        super().__init__()
        self.database_url, self.seconds = database_url, seconds
        self.locked = threading.Event()
        self.released = 0.0

    def run(self) -> None:
        other = make_engine(self.database_url)
        with other.begin() as connection:
            connection.exec_driver_sql("SELECT 1")
            self.locked.set()
            time.sleep(self.seconds)
        self.released = time.monotonic()
        other.dispose()

    def __enter__(self) -> _Holder:
        self.start()
        assert self.locked.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()


@sqlite_only
def test_a_transaction_takes_the_write_lock_soon_after_another_releases_it(engine):
    # SQLite's own wait would try again 13 ms after this release (at 33 ms), and later still
    # for longer holds: a sender colliding with another's commit lost that much each time.
    with _Holder(str(engine.url), 0.02) as holder, engine.begin() as connection:
        began = time.monotonic()
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert began - holder.released < 0.008
    assert timeout == BUSY_TIMEOUT_MS


@sqlite_only
def test_a_transaction_still_waits_for_a_lock_held_longer_than_its_own_polling(engine):
    held = WRITE_LOCK_POLL_SECONDS * 2
    started = time.monotonic()
    with _Holder(str(engine.url), held), engine.begin() as connection:
        began = time.monotonic()
        connection.exec_driver_sql("SELECT 1")
    assert began - started >= held


@sqlite_only
def test_an_engine_for_pages_gives_up_on_a_held_lock_after_its_own_shorter_wait(engine):
    impatient = make_engine(str(engine.url), busy_timeout_ms=300)
    with _Holder(str(engine.url), 2.0):
        started = time.monotonic()
        with pytest.raises(DatabaseBusy, match=r"stayed locked for 0\.3 s"), impatient.begin():
            pass
        waited = time.monotonic() - started
    impatient.dispose()
    assert 0.3 <= waited < 1.5


@sqlite_only
def test_a_connection_that_only_reads_does_not_wait_for_the_write_lock(engine):
    with _Holder(str(engine.url), 0.5):
        started = time.monotonic()
        with reading(engine) as connection:
            assert connection.execute(select(Delivery.id)).all() == []
        assert time.monotonic() - started < 0.25


def test_a_prepared_statement_stores_what_sqlalchemy_would(engine):
    now = utcnow()
    statement = (
        update(Subscriber)
        .where(Subscriber.id == bindparam("subscriber"))
        .values(name=bindparam("name"), suspended_at=bindparam("now"), updated_at=bindparam("now"))
    )
    prepared = Prepared(statement, engine.dialect)
    with engine.begin() as connection:
        for number in (1, 2):
            connection.execute(
                insert(Subscriber.__table__).values(
                    id=number, email=f"{number}@example.org", name="", keywords={}, exclude=[],
                    max_papers=1, min_score=0.0, active=True, created_at=now, updated_at=now,
                )
            )  # fmt: skip
        connection.execute(statement, {"subscriber": 1, "name": "Ada", "now": now})
        prepared.execute(connection, subscriber=2, name="Ada", now=now)
    columns = (Subscriber.name, Subscriber.suspended_at, Subscriber.updated_at)
    with engine.connect() as connection:
        # As stored, not as read back: SQLite keeps datetimes as text.
        stored = connection.execute(
            select(*(cast(c, String) for c in columns)).order_by(Subscriber.id)
        ).all()
        typed = connection.execute(select(*columns).order_by(Subscriber.id)).all()
    assert stored[0] == stored[1]
    assert typed[0] == typed[1] and typed[1][0] == "Ada"


@sqlite_only
def test_a_command_kept_waiting_says_in_one_line_what_holds_the_database(
    cli, settings, monkeypatch
):
    """Fails before: `digest unsubscribe` died after 30 s with a raw 'database is locked'
    traceback, saying nothing of who held the file."""
    assert cli("db", "upgrade").exit_code == 0
    monkeypatch.setattr("digest.db.BUSY_TIMEOUT_MS", 300)
    path = settings.database_url.removeprefix("sqlite:///")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)\n",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        token = make_token(settings.secret or "", "ada@example.org")
        result = cli("unsubscribe", token)
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: the database {path} stayed locked for 0.3 s, held by ")
    assert f"pid {holder.pid} (" in line


@sqlite_only
def test_a_full_disk_is_one_error_that_says_so(engine):
    """Fails before: SQLite's "database or disk is full" came as a raw traceback."""
    with engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
    full = make_engine(str(engine.url))
    # The file may not grow: the same answer as a full disk, from SQLite itself.
    event.listen(full, "connect", lambda dbapi, _: dbapi.execute(f"PRAGMA max_page_count={pages}"))
    try:
        with pytest.raises(DatabaseFull) as caught, full.begin() as connection:
            for number in range(2000):
                connection.execute(
                    insert(Subscriber.__table__).values(
                        email=f"{number}@example.org", name="x" * 150, keywords={}, exclude=[],
                        max_papers=1, min_score=0.0, active=True, created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )  # fmt: skip
    finally:
        full.dispose()
    assert str(caught.value) == (
        f"cannot write to the database {engine.url.database}: the disk is full; free some "
        "space and run again (what was recorded is kept)"
    )
    with reading(engine) as connection:
        assert connection.execute(select(Subscriber.id)).all() == []
