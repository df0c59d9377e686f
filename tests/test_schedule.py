"""`digest serve` as a real process: the real APScheduler with its job in the database."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from digest.config import Settings
from digest.schedule import JOB_ID
from tests.support import PROFILES, env_for

TIMEOUT = 60


@pytest.fixture
def serve_env(tmp_path: Path, settings: Settings, pages: Path) -> dict[str, str]:
    shutil.copytree(pages, settings.inbox)
    # Two hours from now, so the job never falls due by itself during the test.
    later = datetime.now(UTC) + timedelta(hours=2)
    return {
        **os.environ,
        **env_for(settings),
        "DIGEST_PROFILES": str(PROFILES),
        "DIGEST_SEND_TIME": f"{later:%H:%M}",
    }


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
        wait_for(lambda: "next daily digest at" in self.output(), "the scheduler to start")

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


def job_row(database: str) -> tuple[float, bytes] | None:
    engine = create_engine(database)
    try:
        if not inspect(engine).has_table("apscheduler_jobs"):
            return None
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT next_run_time, job_state FROM apscheduler_jobs WHERE id = :id"),
                {"id": JOB_ID},
            ).first()
        return None if row is None else (row[0], row[1])
    finally:
        engine.dispose()


@pytest.mark.slow
def test_serve_persists_its_job_and_runs_a_missed_day_once_at_start(
    tmp_path: Path, settings: Settings, serve_env: dict[str, str]
):
    database = settings.database_url
    Server(serve_env, tmp_path).stop()
    assert job_row(database) is not None
    assert not settings.outbox.exists()

    # The machine was off when the run was due, an hour ago.
    due = datetime.now(UTC) - timedelta(hours=1)
    _, blob = job_row(database)
    state = pickle.loads(blob)
    state["next_run_time"] = due
    engine = create_engine(database)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE apscheduler_jobs SET next_run_time = :at, job_state = :state WHERE id = :id"
            ),
            {"at": due.timestamp(), "state": pickle.dumps(state), "id": JOB_ID},
        )
    engine.dispose()

    server = Server(serve_env, tmp_path)
    wait_for(lambda: "daily run" in server.output(), "the missed run")
    server.stop()
    assert job_row(database)[0] > time.time()
    assert len(list(settings.outbox.glob("*.eml"))) == 3


def test_serve_keeps_the_stored_job_and_follows_a_new_send_time(
    tmp_path: Path, settings: Settings, serve_env: dict[str, str]
):
    database = settings.database_url
    Server(serve_env, tmp_path).stop()
    before = job_row(database)[0]
    Server(serve_env, tmp_path).stop()
    assert job_row(database)[0] == before

    earlier = datetime.now(UTC) + timedelta(hours=1)
    Server({**serve_env, "DIGEST_SEND_TIME": f"{earlier:%H:%M}"}, tmp_path).stop()
    next_run = datetime.fromtimestamp(job_row(database)[0], UTC)
    assert (next_run.hour, next_run.minute) == (earlier.hour, earlier.minute)


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
    assert "next daily digest" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "error: DIGEST_SECRET is not set: it signs the unsubscribe links" in done.stderr
