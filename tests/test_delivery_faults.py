"""Delivery under faults, end to end with real `digest run` processes: a flaky relay and a
crowd of subscribers, runs killed with SIGKILL at random moments, and two runs at once.

Whatever happens, each subscriber gets each day's digest once: never twice (except the one
message a killed run had in flight, which comes again with the same Message-ID), and never
not at all unless the relay refused the address for good, which `digest status` reports.
"""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from digest.config import Settings
from tests.crowd import DAY1, DAY2, assert_once_each, fill_inbox, write_crowd
from tests.smtp_servers import REFUSED, FlakyHandler, SlowHandler, serving
from tests.support import child_env, digest_command, status_report

# Real `digest run` processes against a misbehaving relay, tens of seconds each.
pytestmark = pytest.mark.slow


def run_once(settings: Settings, day: str, cwd: Path) -> dict:
    done = subprocess.run(
        digest_command("run", "--date", day, "--json"),
        env=child_env(settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def run_until_nothing_is_due(settings: Settings, day: str, cwd: Path, limit: int = 10) -> list:
    reports = []
    for _ in range(limit):
        report = run_once(settings, day, cwd)
        reports.append(report)
        if not report["deferred"] and report["stopped"] is None and report["left_due"] == 0:
            return reports
    pytest.fail(f"still deferred after {limit} runs: {reports[-1]['deferred']}")


# --- a flaky relay and 150 subscribers -----------------------------------------------------


def test_a_flaky_relay_delivers_each_days_digest_exactly_once(cli, settings, tmp_path, engine):
    emails = write_crowd(tmp_path / "profiles.toml", 150)
    refused = {emails[7], emails[42], emails[77], emails[111], emails[149]}
    handler = FlakyHandler(2026, refuse=refused, rcpt_451=0.15, data_451=0.15, drop=0.1)
    lab = dataclasses.replace(
        settings, profiles=tmp_path / "profiles.toml", retry_attempts=3, retry_backoff=0.001
    )
    runs: dict[str, list] = {}
    with serving(handler) as server:
        smtp = server.settings(lab)
        for day in (DAY1, DAY2):
            fill_inbox(lab, day)
            runs[day] = run_until_nothing_is_due(smtp, day, tmp_path)

    # The relay did misbehave, in every way, and runs had to come back for deferred mail.
    assert {"rcpt 451", "data 451", "dropped", "550"} <= set(handler.log.events)
    assert all(len(reports) >= 2 for reports in runs.values()), runs
    assert any(report["deferred"] for reports in runs.values() for report in reports)

    report = status_report(cli, lab)
    assert report["pending"] == report["sending"] == report["deferred"] == 0
    assert report["suspended"] == 0
    assert_once_each(handler.log, report)
    for day in (DAY1, DAY2):
        with_digest = {d["email"] for d in report["deliveries"] if d["date"] == day}
        assert len(with_digest) >= 0.8 * len(emails), day  # the keywords do find papers

    # Every refusal is reported failed with the relay's reason, and nothing reached them.
    failed = [d for d in report["deliveries"] if d["status"] == "failed"]
    assert {d["email"] for d in failed} == refused
    for row in failed:
        assert REFUSED in row["error"]
        assert row["attempts"] == 1
    assert not any(r in refused for a in handler.log.accepted for r in a.rcpt_tos)
    reported = {f["email"] for reports in runs.values() for r in reports for f in r["failed"]}
    assert reported == refused
    text = cli("status", settings_=lab).stdout
    assert f"0 pending, 0 sending, {report['sent']} sent, 0 deferred, {len(failed)} failed" in text


# --- runs killed with SIGKILL ---------------------------------------------------------------


def _kill_when(process: subprocess.Popen, ready) -> bool:
    """SIGKILL `process` once `ready()` holds; False if it ended by itself first."""
    deadline = time.monotonic() + 30
    while not ready():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def test_runs_killed_at_random_moments_lose_nothing_and_repeat_at_most_the_one_in_flight(
    cli, settings, tmp_path, engine
):
    emails = write_crowd(tmp_path / "profiles.toml", 60, seed=11)
    lab = dataclasses.replace(settings, profiles=tmp_path / "profiles.toml")
    fill_inbox(lab, DAY1)
    fill_inbox(lab, DAY2)  # all five pages on one day
    rng = random.Random(5)
    handler = SlowHandler(0.04)
    kills = 0
    with serving(handler) as server:
        smtp = server.settings(lab)
        env = child_env(smtp)
        # Once at a random moment of start-up, ingest or planning; then while sending.
        moments = [("time", rng.uniform(1.5, 3.0))] + [
            ("count", rng.randint(low, low + 6)) for low in (1, 5, 10)
        ]
        for kind, at in moments:
            base = handler.log.count()
            started = time.monotonic()
            process = subprocess.Popen(
                digest_command("run", "--date", DAY1),
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                if kind == "time":
                    ready = lambda at=at, t0=started: time.monotonic() - t0 >= at  # noqa: E731
                else:
                    ready = lambda at=at, base=base: handler.log.count() >= base + at  # noqa: E731
                kills += _kill_when(process, ready)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        assert kills >= 3
        run_until_nothing_is_due(smtp, DAY1, tmp_path)

    report = status_report(cli, lab)
    assert report["pending"] == report["sending"] == report["deferred"] == report["failed"] == 0
    sent = {d["email"]: d["message_id"] for d in report["deliveries"]}
    assert len(sent) >= 0.8 * len(emails)
    received = Counter(r for a in handler.log.accepted for r in a.rcpt_tos)
    assert set(received) == set(sent)  # everyone got their digest
    twice = {email: n for email, n in received.items() if n > 1}
    assert all(n == 2 for n in twice.values()), twice
    assert len(twice) <= kills  # at most the one message in flight per killed run
    for accepted in handler.log.accepted:
        (rcpt,) = accepted.rcpt_tos
        assert accepted.message_id == sent[rcpt]  # a repeat carries the same Message-ID


# --- two runs at once -----------------------------------------------------------------------


def _two_runs_at_once(smtp: Settings, day: str, cwd: Path) -> list[dict]:
    env = child_env(smtp)
    processes = [
        subprocess.Popen(
            digest_command("run", "--date", day, "--json"),
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        outputs = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    reports = []
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in err, err
        reports.append(json.loads(out.splitlines()[-1]))
    return reports


@pytest.mark.parametrize("migrated", [True, False], ids=["existing-db", "fresh-db"])
def test_two_runs_at_once_send_each_digest_exactly_once(
    cli, settings, tmp_path, database_url, migrated, request
):
    if migrated:
        request.getfixturevalue("engine")
    emails = write_crowd(tmp_path / "profiles.toml", 50, seed=3)
    lab = dataclasses.replace(settings, profiles=tmp_path / "profiles.toml")
    handler = SlowHandler(0.005)
    with serving(handler) as server:
        smtp = server.settings(lab)
        # A first run ever also races to create the schema; one day of that is enough.
        for day in (DAY1, DAY2) if migrated else (DAY1,):
            fill_inbox(lab, day)
            reports = _two_runs_at_once(smtp, day, tmp_path)
            sent = [email for report in reports for email in report["sent"]]
            assert len(sent) == len(set(sent)), Counter(sent).most_common(3)
    report = status_report(cli, lab)
    assert report["sent"] == len(report["deliveries"]) >= 0.8 * len(emails)
    assert_once_each(handler.log, report)
