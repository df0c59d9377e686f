"""`digest serve`: the real APScheduler, in a process of its own and in this one with its
clock set by time-machine."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import time_machine
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, select

from digest.config import Settings
from digest.db import ensure_schema, make_engine
from digest.models import Delivery, as_utc
from digest.schedule import build_scheduler
from tests.support import PROFILES, env_for

TIMEOUT = 60


@pytest.fixture
def serve_env(tmp_path: Path, settings: Settings, pages: Path) -> dict[str, str]:
    shutil.copytree(pages, settings.inbox)
    return {
        **os.environ,
        **env_for(settings),
        "DIGEST_PROFILES": str(PROFILES),
        # Where it is about 01:00 now, at 23:00: nobody is due during the test.
        "DIGEST_TIMEZONE": zone_near_one_am(),
        "DIGEST_SEND_TIME": "23:00",
    }


def zone_near_one_am() -> str:
    """A fixed-offset zone where the hour now is 01:00 (Etc/GMT-3 is UTC+3)."""
    offset = (1 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return f"Etc/GMT{-offset:+d}"


class Server:
    """`digest serve` in a process of its own, its output in a file."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.log = cwd / f"serve-{time.monotonic_ns()}.log"
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "digest", "serve"],
                env=env,
                cwd=cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: "serving:" in self.output(), "the scheduler to start")

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=TIMEOUT)
        assert self.process.returncode == 0, self.output()
        assert "stopping on SIGTERM" in self.output()
        return self.output()


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
def test_serve_sends_the_digests_due_at_start_then_stops_on_sigterm(
    tmp_path: Path, settings: Settings, serve_env: dict[str, str]
):
    # 00:00: every reader's hour of today has passed, as after a night with the machine off.
    server = Server({**serve_env, "DIGEST_SEND_TIME": "00:00"}, tmp_path)
    wait_for(lambda: "run at" in server.output(), "the check at start")
    output = server.stop()
    assert "3 sent" in output
    assert len(list(settings.outbox.glob("*.eml"))) == 3


def test_serve_sends_nothing_before_the_hour(
    tmp_path: Path, settings: Settings, serve_env: dict[str, str]
):
    server = Server(serve_env, tmp_path)
    time.sleep(2)  # the check at start has run by now
    server.stop()
    assert not settings.outbox.exists()


@pytest.mark.slow
def test_the_real_scheduler_serves_a_berlin_reader_at_7_on_the_day_clocks_go_forward(
    tmp_path: Path, settings: Settings, pages: Path, monkeypatch: pytest.MonkeyPatch
):
    """On 2026-03-29 Berlin moves from UTC+1 to UTC+2: 07:00 there is 05:00 UTC, an hour
    earlier than the day before. The scheduler runs with its clock set just before."""
    shutil.copytree(pages, settings.inbox)
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        '[[subscriber]]\nemail = "berlin@example.org"\nkeywords = ["language model"]\n'
        'timezone = "Europe/Berlin"\nsend_time = "07:00"\n',
        encoding="utf-8",
    )
    local = dataclasses.replace(settings, profiles=profiles, serve_every=1)
    for name, value in env_for(local).items():
        monkeypatch.setenv(name, value)
    engine = make_engine(local.database_url)
    ensure_schema(engine)
    try:
        with time_machine.travel(datetime(2026, 3, 29, 4, 59, 57, tzinfo=UTC), tick=True):
            scheduler = build_scheduler(local, scheduler=BackgroundScheduler(timezone=UTC))
            scheduler.start()
            wait_for(lambda: recorded(engine), "the digest of 07:00 in Berlin")
            scheduler.shutdown(wait=True)
    finally:
        engine.dispose()
    ((day, until),) = recorded(engine)
    assert day == date(2026, 3, 29)
    # The check at start (06:59:57 in Berlin) sent nothing; the one at 07:00 did.
    assert (
        datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
        <= as_utc(until)
        < datetime(2026, 3, 29, 5, 1, tzinfo=UTC)
    )
    assert len(list(local.outbox.glob("*.eml"))) == 1


def recorded(engine: Engine) -> list[tuple[date, datetime]]:
    with engine.connect() as connection:
        rows = connection.execute(select(Delivery.digest_date, Delivery.papers_until)).all()
    return [(day, until) for day, until in rows]


def test_serve_refuses_to_start_with_smtp_and_no_secret(serve_env, tmp_path):
    """Fails before: serve started, logged its next run, and then failed every day."""
    env = {**serve_env, "SMTP_HOST": "127.0.0.1", "SMTP_SECURITY": "none", "DIGEST_SECRET": ""}
    done = subprocess.run(
        [sys.executable, "-m", "digest", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 1
    assert "serving:" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "error: DIGEST_SECRET is not set: it signs the unsubscribe links" in done.stderr
