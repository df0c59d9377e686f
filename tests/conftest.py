"""Fixtures that build real things: a migrated database, an SMTP server on 127.0.0.1.

What test modules import by name (paths, database helpers, the CLI's environment) is in
tests/support.py.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from digest.cli import main
from digest.config import Settings
from digest.db import make_engine, upgrade
from tests.smtp_servers import RecordingHandler, SmtpServer, serving
from tests.support import (
    PAGES,
    POSTGRES,
    PROFILES,
    TEMPLATE,
    create_database,
    database_named,
    drop_database,
    env_for,
    server_admin,
)


@pytest.fixture
def pages() -> Path:
    """The folder of the five real sample pages."""
    return PAGES


@pytest.fixture(scope="session", autouse=True)
def postgres_template() -> Iterator[None]:
    """With PostgreSQL, one database migrated once, that every test's database copies."""
    if POSTGRES is None:
        yield
        return
    admin = server_admin()
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {TEMPLATE}"))
    engine = make_engine(database_named(TEMPLATE))
    upgrade(engine)
    engine.dispose()
    yield
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """This test's database: a new SQLite file (migrated on first use) or PostgreSQL database."""
    if POSTGRES is None:
        yield f"sqlite:///{tmp_path / 'digest.sqlite3'}"
        return
    url = create_database(tmp_path)
    yield url
    drop_database(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on this test's database, migrated by alembic to the newest schema."""
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for the embedded default, every folder inside this test's tmp_path."""
    return Settings(
        database_url=database_url,
        profiles=None,
        inbox=tmp_path / "inbox",
        outbox=tmp_path / "outbox",
        sender="Digest <digest@example.org>",
        secret="test-secret-not-for-production",
        retry_backoff=0.01,
    )


@pytest.fixture
def lab(tmp_path: Path, settings: Settings, pages: Path) -> Settings:
    """The bundled example: the five real pages in the inbox and three subscribers."""
    shutil.copytree(pages, settings.inbox)
    profiles = tmp_path / "profiles.toml"
    shutil.copy(PROFILES, profiles)
    return dataclasses.replace(settings, profiles=profiles)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 and a free port, recording what it accepts."""
    with serving(RecordingHandler()) as server:
        yield server


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> Iterator[Callable[..., Result]]:
    """Run `digest ARGS...` in-process, in tmp_path, with `settings` (or others) as env."""
    monkeypatch.chdir(tmp_path)
    # `serve`, `worker` and `web` raise digest's logger to INFO for the rest of the process.
    digest_log = logging.getLogger("digest")
    level = digest_log.level

    def invoke(*args: str, settings_: Settings | None = None, input: bytes | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, list(args), env=env_for(settings_ or settings), input=input)

    yield invoke
    digest_log.setLevel(level)
