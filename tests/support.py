"""What the tests share: paths, test databases, the CLI's environment, and small builders.

Fixtures live in conftest.py; everything a test module imports by name lives here.
The database is a SQLite file per test; with DIGEST_TEST_DATABASE_URL set (a PostgreSQL
server, e.g. postgresql+psycopg://digest@127.0.0.1:5432/postgres) it is a fresh
PostgreSQL database per test instead, copied from one migrated template.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, create_engine, make_url, text

from digest.compose import Composer, Digest, Entry, Recipient, new_message_id
from digest.config import Settings, declared
from digest.db import unit_of_work
from digest.mime import Email
from digest.models import Delivery, DeliveryItem, Page, Paper, Subscriber
from digest.resources import resource_dir

ROOT = Path(__file__).resolve().parent.parent
PAGES = ROOT / "examples" / "pages"
PROFILES = ROOT / "examples" / "profiles.toml"
# The day of the deliveries `pending_deliveries` makes.
PENDING_DAY = date(2026, 3, 20)
# When `composed` messages are dated.
NOW = datetime(2025, 3, 1, 7, 0, tzinfo=UTC)


POSTGRES = os.environ.get("DIGEST_TEST_DATABASE_URL") or None
postgres_only = pytest.mark.skipif(POSTGRES is None, reason="needs DIGEST_TEST_DATABASE_URL")
sqlite_only = pytest.mark.skipif(POSTGRES is not None, reason="about the embedded SQLite file")
TEMPLATE = f"digest_template_{os.getpid()}"


def server_admin() -> Engine:
    """An engine on the PostgreSQL server itself, for creating and dropping databases."""
    assert POSTGRES is not None
    return create_engine(POSTGRES, isolation_level="AUTOCOMMIT")


def database_named(name: str) -> str:
    """The URL of the database `name` on the test PostgreSQL server."""
    assert POSTGRES is not None
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


def create_database(folder: Path, *, migrated: bool = True) -> str:
    """The URL of a new database: a SQLite file in `folder` (made on first use), or a fresh
    PostgreSQL database, migrated or empty. Drop it with `drop_database`.
    """
    if POSTGRES is None:
        return f"sqlite:///{folder / f'digest-{uuid.uuid4().hex[:6]}.sqlite3'}"
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    admin = server_admin()
    with admin.connect() as connection:
        template = f" TEMPLATE {TEMPLATE}" if migrated else ""
        connection.execute(text(f"CREATE DATABASE {name}{template}"))
    admin.dispose()
    return database_named(name)


def drop_database(url: str) -> None:
    """Drop a PostgreSQL database made by `create_database`; SQLite files go with tmp_path."""
    if POSTGRES is None:
        return
    admin = server_admin()
    with admin.connect() as connection:
        name = make_url(url).database
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


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


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of a `digest` process using `settings`, none of this one's settings."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    return inherited | env_for(settings)


def digest_command(*args: str) -> list[str]:
    """The command line that runs `digest ARGS...` with this interpreter."""
    return [sys.executable, "-m", "digest", *args]


def status_report(cli: Callable[..., Result], settings: Settings) -> dict[str, Any]:
    """`digest status --json`, parsed."""
    result = cli("status", "--json", settings_=settings)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[-1])


def add_delivery(engine: Engine, subscriber_id: int, day: date, papers: list[int]) -> None:
    """A digest of `papers` sent to the subscriber on `day`."""
    with unit_of_work(engine) as session:
        delivery = Delivery(
            subscriber_id=subscriber_id,
            digest_date=day,
            status="sent",
            message_id=f"<{subscriber_id}.{day}@example.org>",
            subject=f"Papers for {day}",
        )
        session.add(delivery)
        session.flush()
        session.add_all(
            DeliveryItem(
                delivery_id=delivery.id,
                subscriber_id=subscriber_id,
                paper_id=paper_id,
                rank=rank,
                score=0.5,
                matched=["video"],
            )
            for rank, paper_id in enumerate(papers, start=1)
        )


def pending_deliveries(engine: Engine, count: int) -> list[str]:
    """`count` subscribers with one pending delivery of one paper each, on PENDING_DAY;
    their addresses."""
    emails = [f"reader{n:03d}@example.org" for n in range(count)]
    with unit_of_work(engine) as session:
        page = Page(source="t", sha256="0" * 64, digest_date=PENDING_DAY, entries=1, papers_new=1)
        session.add(page)
        session.flush()
        paper = Paper(
            key="a-paper", title="A Paper", abstract="We study things.", first_seen=PENDING_DAY,
            page_id=page.id,
        )  # fmt: skip
        session.add(paper)
        for email in emails:
            subscriber = Subscriber(email=email, keywords={"things": 1.0}, exclude=[])
            session.add(subscriber)
            session.flush()
            delivery = Delivery(
                subscriber_id=subscriber.id, digest_date=PENDING_DAY, status="pending",
                message_id=f"<{email}>", subject="digest",
            )  # fmt: skip
            session.add(delivery)
            session.flush()
            session.add(
                DeliveryItem(
                    delivery_id=delivery.id, subscriber_id=subscriber.id, paper_id=paper.id,
                    rank=1, score=0.5, matched=["things"],
                )
            )  # fmt: skip
    return emails


def composed(settings: Settings, email: str, name: str = "", title: str = "A Paper") -> Email:
    """A small real message from `settings`' sender to `email`."""
    composer = Composer(resource_dir("templates"), settings.sender_address)
    digest = Digest(
        recipient=Recipient(email, name),
        digest_date=date(2025, 3, 1),
        entries=[Entry(title, "We study things.", 0.5, ["things"])],
        message_id=new_message_id(settings.sender_address),
        keywords=["things"],
    )
    return composer.compose(digest, NOW)
