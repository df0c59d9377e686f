"""Engines, sessions and the schema's migrations (alembic)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import ClauseElement, Connection, Engine, Insert, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.engine.interfaces import DBAPIConnection, Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler

from digest.errors import ConfigError, DigestError
from digest.models import Base
from digest.resources import resource_dir
from digest.sanitize import excerpt

# How long a SQLite connection waits for a lock another holds before it gives up.
BUSY_TIMEOUT_MS = 30_000
# SQLite's own wait for the write lock sleeps 1, 2, 5, 10 ms and more between tries, so
# two sending processes, whose commits hold the lock for a tenth of a millisecond, lost a
# millisecond or more at every collision. A transaction first tries again itself, every
# 50 us at first, for up to this long; then SQLite waits.
WRITE_LOCK_POLL_SECONDS = 0.1
_FIRST_PAUSE, _LONGEST_PAUSE = 0.00005, 0.001
# Values in one IN list: well under SQLite's limit of 32,766 parameters per statement.
CHUNK = 500
# The execution option `reading` sets: the connection only reads.
_READ_ONLY = "digest_read_only"


def make_engine(url: str, *, busy_timeout_ms: int | None = None) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout.

    `busy_timeout_ms`: how long a SQLite connection waits for a lock (default
    BUSY_TIMEOUT_MS); a web page, which must answer soon, waits less than a batch job.
    """
    wait_ms = BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
    try:
        engine = create_engine(url)
    except Exception as exc:  # SQLAlchemy raises several types for a malformed URL
        raise ConfigError(f"DIGEST_DATABASE_URL is not a usable database URL: {exc}") from None
    if engine.dialect.name == "sqlite":

        def connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            _sqlite_connect(dbapi_connection, wait_ms)

        def begin(connection: Connection) -> None:
            _sqlite_begin(connection, wait_ms)

        def error(context: ExceptionContext) -> None:
            _sqlite_error(context, wait_ms)

        event.listen(engine, "connect", connect)
        event.listen(engine, "begin", begin)
        event.listen(engine, "handle_error", error)
    return engine


class DatabaseBusy(DigestError):
    """Another process held the SQLite file's write lock past the busy timeout."""


class DatabaseFull(DigestError):
    """SQLite could not grow its file: the disk (or a quota) is full."""


def _sqlite_error(context: ExceptionContext, busy_timeout_ms: int) -> None:
    """Replace SQLite's bare "database is locked" and "database or disk is full" with what
    to do (and, for a lock, who holds it): one line for the user, not a traceback."""
    error = context.original_exception
    if not isinstance(error, sqlite3.OperationalError):
        return
    code = error.sqlite_errorcode & 0xFF
    path = context.engine.url.database if context.engine is not None else None
    if code == sqlite3.SQLITE_FULL:
        raise DatabaseFull(
            f"cannot write to the database {path}: the disk is full; free some space and "
            "run again (what was recorded is kept)"
        ) from None
    if code != sqlite3.SQLITE_BUSY:
        return
    holders = lock_holders(path) if path else []
    held = f"held by {', '.join(holders)}" if holders else "held by another process"
    raise DatabaseBusy(
        f"the database {path} stayed locked for {busy_timeout_ms / 1000:g} s, {held}; "
        "try again once it has finished writing"
    ) from None


def lock_holders(path: str) -> list[str]:
    """The other processes that have the SQLite file `path` (or its WAL) open, as
    "pid N (command)"; empty where /proc cannot tell (not Linux, another user's).

    SQLite does not say who holds its lock: a process with the file open is the best
    answer there is, and usually the one (a `digest run`, `serve` or `worker`).
    """
    wanted = {Path(path + suffix).resolve() for suffix in ("", "-wal")}
    found: list[str] = []
    if not Path("/proc").is_dir():
        return found
    processes = sorted((p for p in Path("/proc").iterdir() if p.name.isdigit()), key=_pid)
    for process in processes:
        if _pid(process) == os.getpid():
            continue
        try:
            targets = {fd.readlink() for fd in (process / "fd").iterdir()}
            command = (process / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if targets & wanted:
            found.append(f"pid {process.name} ({excerpt(command.decode(errors='replace'))})")
    return found


def _pid(process: Path) -> int:
    return int(process.name)


def _sqlite_connect(dbapi_connection: DBAPIConnection, busy_timeout_ms: int) -> None:
    # Transactions are begun by _sqlite_begin, not by the driver, whose own handling breaks
    # savepoints (SQLAlchemy's documented recipe for pysqlite).
    assert isinstance(dbapi_connection, sqlite3.Connection)
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    dbapi_connection.execute("PRAGMA foreign_keys=ON")
    # SQLite answers a change of journal mode with SQLITE_BUSY at once, without its busy
    # wait, while another connection holds a lock on the file: two runs starting on a new
    # database, one of them migrating it, failed with "database is locked".
    _until_not_busy(
        lambda: dbapi_connection.execute("PRAGMA journal_mode=WAL"), busy_timeout_ms / 1000
    )
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit per message
    # then costs no disk flush. A power cut may undo the last commits (never corrupt the
    # file): a message recorded as sent just before it is sent again, with the same
    # Message-ID, as after any crash mid-send; nothing is lost.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def _sqlite_begin(connection: Connection, busy_timeout_ms: int) -> None:
    # IMMEDIATE takes the write lock up front: two processes (two runs, or serve and a run)
    # then queue on the busy timeout instead of one failing when it upgrades a read to a
    # write. Units of work are short, so the lock is held briefly. A connection that only
    # reads needs no lock: in WAL mode it reads a snapshot while others write.
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    if not _poll_for_write_lock(driver, busy_timeout_ms):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _poll_for_write_lock(driver: sqlite3.Connection, busy_timeout_ms: int) -> bool:
    """Begin IMMEDIATE, trying again in short pauses while another holds the write lock.

    False when it did not begin within WRITE_LOCK_POLL_SECONDS, or failed otherwise: the
    caller then begins as usual, with SQLite's wait, and any error comes from there.
    """
    driver.execute("PRAGMA busy_timeout=0")
    try:
        _until_not_busy(lambda: driver.execute("BEGIN IMMEDIATE"), WRITE_LOCK_POLL_SECONDS)
    except sqlite3.OperationalError:
        return False
    else:
        return True
    finally:
        driver.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


def _until_not_busy(attempt: Callable[[], object], seconds: float) -> None:
    """Run `attempt`, again after short pauses while SQLite answers SQLITE_BUSY.

    Still busy after `seconds`, it raises SQLite's last answer, as it does any other error.
    """
    deadline = time.monotonic() + seconds
    pause = _FIRST_PAUSE
    while True:
        try:
            attempt()
        except sqlite3.OperationalError as error:
            busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
        else:
            return
        time.sleep(pause)
        pause = min(2 * pause, _LONGEST_PAUSE)


def in_chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    """`values` in slices short enough for one IN list."""
    for first in range(0, len(values), CHUNK):
        yield values[first : first + CHUNK]


def insert_ignoring_conflicts(session: Session, table: type[Base]) -> Insert:
    """`INSERT ... ON CONFLICT DO NOTHING` for `table` on SQLite and PostgreSQL alike.

    Two processes storing the same page or paper at once then both succeed, one of them
    inserting nothing, instead of one failing on a unique constraint.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise ConfigError(f"digest supports SQLite and PostgreSQL, not {dialect}")


def serialize(session: Session, name: str) -> None:
    """Let one transaction at a time, across processes, past this point (until it ends).

    For read-then-write steps that must not interleave (syncing profiles, recording a
    day's digests). PostgreSQL takes a transaction-level advisory lock; SQLite needs
    nothing, since its transactions already begin IMMEDIATE (one writer at a time).
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


class Prepared:
    """A Core statement compiled once for a dialect, then run at the driver.

    For a statement run once a message, SQLAlchemy's own work at each execution (the
    statement's cache key, its parameters, the result) costs several times the database's.
    The values go through the types' bind processors, as SQLAlchemy would pass them; the
    statement must name every value it sets (a column's `onupdate` is not applied).
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self._compiled = compiled
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._processors[name] = processor

    def execute(self, connection: Connection, **values: object) -> None:
        """Run the statement on `connection` with `values` for its bound parameters."""
        params = self._compiled.construct_params(values)
        for name, processor in self._processors.items():
            params[name] = processor(params[name])
        if self._compiled.positional:
            order = self._compiled.positiontup or []
            connection.exec_driver_sql(self._compiled.string, tuple(params[n] for n in order))
        else:
            connection.exec_driver_sql(self._compiled.string, params)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection that only reads: on SQLite its transaction takes no write lock."""
    with engine.connect() as connection:
        yield connection.execution_options(**{_READ_ONLY: True})


@contextmanager
def read_only(engine: Engine) -> Iterator[Session]:
    """A session that only reads: on SQLite it takes no write lock, so it neither waits for
    a run that is writing nor holds one up; whatever it changes is rolled back."""
    with reading(engine) as connection, Session(bind=connection) as session:
        yield session


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """A session for one unit of work: committed on success, rolled back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    """An alembic configuration bound to `engine`, without any alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (the newest by default)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with reading(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(engine: Engine) -> None:
    """Make sure the schema is current: SQLite is migrated in place, other databases must be.

    An embedded SQLite file belongs to this one installation, so upgrading it is safe and
    makes the first run just work; a shared server is migrated deliberately by its operator.
    """
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    current = current_revision(engine)
    if current == head:
        return
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise ConfigError(
        f"the database is at revision {current or 'none'}, digest needs {head}: "
        "run 'digest db upgrade'"
    )
