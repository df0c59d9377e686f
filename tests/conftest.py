"""Fixtures that build real things: a migrated database, an SMTP server on 127.0.0.1.

The database is a SQLite file per test; with DIGEST_TEST_DATABASE_URL set (a PostgreSQL
server, e.g. postgresql+psycopg://digest@127.0.0.1:5432/postgres) it is a fresh
PostgreSQL database per test instead, copied from one migrated template.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner, Result
from sqlalchemy import Engine, create_engine, make_url, text

from digest.cli import main
from digest.config import Settings, declared
from digest.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "examples" / "pages"
PROFILES = ROOT / "examples" / "profiles.toml"


@pytest.fixture
def pages() -> Path:
    """The folder of the five real sample pages."""
    return PAGES


POSTGRES = os.environ.get("DIGEST_TEST_DATABASE_URL") or None
postgres_only = pytest.mark.skipif(POSTGRES is None, reason="needs DIGEST_TEST_DATABASE_URL")
sqlite_only = pytest.mark.skipif(POSTGRES is not None, reason="about the embedded SQLite file")
_TEMPLATE = f"digest_template_{os.getpid()}"


def _admin() -> Engine:
    assert POSTGRES is not None
    return create_engine(POSTGRES, isolation_level="AUTOCOMMIT")


def _url(name: str) -> str:
    assert POSTGRES is not None
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


def create_database(folder: Path, *, migrated: bool = True) -> str:
    """The URL of a new database: a SQLite file in `folder` (made on first use), or a fresh
    PostgreSQL database, migrated or empty. Drop it with `drop_database`.
    """
    if POSTGRES is None:
        return f"sqlite:///{folder / f'digest-{uuid.uuid4().hex[:6]}.sqlite3'}"
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    admin = _admin()
    with admin.connect() as connection:
        template = f" TEMPLATE {_TEMPLATE}" if migrated else ""
        connection.execute(text(f"CREATE DATABASE {name}{template}"))
    admin.dispose()
    return _url(name)


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database made by `create_database`; SQLite files go with tmp_path."""
    if POSTGRES is None:
        return
    admin = _admin()
    with admin.connect() as connection:
        name = make_url(url).database
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def postgres_template() -> Iterator[None]:
    """With PostgreSQL, one database migrated once, that every test's database copies."""
    if POSTGRES is None:
        yield
        return
    admin = _admin()
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {_TEMPLATE}"))
    engine = make_engine(_url(_TEMPLATE))
    upgrade(engine)
    engine.dispose()
    yield
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)"))
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


@dataclass
class Received:
    """What the test SMTP server accepted."""

    envelopes: list[Envelope] = field(default_factory=list)

    @property
    def messages(self) -> list[EmailMessage]:
        """Each accepted message, parsed with the email package."""
        return [
            message_from_bytes(e.original_content or b"", policy=policy.default)  # type: ignore[misc]
            for e in self.envelopes
        ]


class _Handler:
    def __init__(self, received: Received, refuse: set[str]) -> None:
        self.received = received
        self.refuse = refuse

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A running aiosmtpd server on 127.0.0.1."""

    host: str
    port: int
    received: Received
    refuse: set[str]

    def settings(self, base: Settings) -> Settings:
        """`base` pointed at this server, without TLS (a loopback test relay)."""
        return dataclasses.replace(
            base, smtp_host=self.host, smtp_port=self.port, smtp_security="none", smtp_timeout=5
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
    received, refuse = Received(), set[str]()
    controller = Controller(_Handler(received, refuse), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, received, refuse)
    finally:
        controller.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def env_for(settings: Settings) -> dict[str, str]:
    """The environment variables that make the CLI use `settings`, one for every declared
    setting: blank where the value is its plain default."""
    env: dict[str, str] = {}
    defaults = Settings()
    for name, declaration in declared():
        value = getattr(settings, name)
        plain_default = declaration.fallback is None and value == getattr(defaults, name)
        blank = value is None or plain_default
        env[declaration.env] = "" if blank else declaration.kind.format(value)
    return env


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> Callable[..., Result]:
    """Run `digest ARGS...` in-process, in tmp_path, with `settings` (or others) as env."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args: str, settings_: Settings | None = None, input: bytes | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, list(args), env=env_for(settings_ or settings), input=input)

    return invoke
