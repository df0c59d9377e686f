"""Parallel senders: `run --no-send` plans, `digest worker` processes send.

With PostgreSQL, four workers share the outbox through a flaky relay, one of them killed
mid-batch; every subscriber still gets the day's digest once. SQLite runs the same
commands with one sender at a time.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from digest.config import Settings
from tests.crowd import DAY1, assert_once_each, fill_inbox, write_crowd
from tests.smtp_servers import FlakyHandler, SlowHandler, serving
from tests.support import child_env, digest_command, postgres_only, status_report


def plan(cli, settings: Settings) -> None:
    result = cli("run", "--date", DAY1, "--no-send", "--json", settings_=settings)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["sent"] == []


def worker(settings: Settings, cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        digest_command("worker", *args),
        env=child_env(settings),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_no_send_records_and_a_worker_sends(cli, settings, tmp_path):
    emails = write_crowd(tmp_path / "profiles.toml", 12)
    with serving(SlowHandler(0.0)) as relay:
        lab = dataclasses.replace(relay.settings(settings), profiles=tmp_path / "profiles.toml")
        fill_inbox(lab, DAY1)
        plan(cli, lab)
        planned = status_report(cli, lab)
        assert planned["pending"] > 0 and planned["sent"] == 0
        assert relay.log.count() == 0

        done = worker(lab, tmp_path, "--once", "--json")
        out, err = done.communicate(timeout=60)
        assert done.returncode == 0, err
        assert len(json.loads(out.splitlines()[-1])["sent"]) == planned["pending"]
        report = status_report(cli, lab)
        assert report["sent"] == planned["pending"] and report["pending"] == 0
        assert_once_each(relay.log, report)
        assert {d["email"] for d in report["deliveries"]} <= set(emails)

        again = worker(lab, tmp_path, "--once", "--json")
        out, _ = again.communicate(timeout=60)
        assert again.returncode == 0
        assert json.loads(out.splitlines()[-1])["sent"] == []
        assert relay.log.count() == planned["pending"]


def test_a_polling_worker_sends_what_arrives_and_stops_on_sigterm(cli, settings, tmp_path):
    write_crowd(tmp_path / "profiles.toml", 5)
    with serving(SlowHandler(0.0)) as relay:
        lab = dataclasses.replace(
            relay.settings(settings), profiles=tmp_path / "profiles.toml", worker_poll=0.2
        )
        fill_inbox(lab, DAY1)
        running = worker(lab, tmp_path)
        try:
            time.sleep(1)
            plan(cli, lab)
            # Every delivery of the day, whatever its state: the worker may be sending some
            # while the status is read.
            due = len(status_report(cli, lab)["deliveries"])
            deadline = time.monotonic() + 30
            while relay.log.count() < due and time.monotonic() < deadline:
                time.sleep(0.2)
            report = status_report(cli, lab)
            while report["sent"] < due and time.monotonic() < deadline:  # recorded just after
                time.sleep(0.2)
                report = status_report(cli, lab)
            assert relay.log.count() == due == report["sent"]
            assert_once_each(relay.log, report)
        finally:
            running.send_signal(signal.SIGTERM)
            _, err = running.communicate(timeout=30)
        assert running.returncode == 0, err
        assert "stopping on SIGTERM" in err


@postgres_only
def test_four_workers_and_a_flaky_relay_one_worker_killed_each_digest_once(cli, settings, tmp_path):
    emails = write_crowd(tmp_path / "profiles.toml", 120)
    handler = FlakyHandler(11, rcpt_451=0.05, data_451=0.05, drop=0.03)
    with serving(handler) as relay:
        lab = dataclasses.replace(
            relay.settings(settings),
            profiles=tmp_path / "profiles.toml",
            batch_size=5,
            worker_poll=0.2,
        )
        fill_inbox(lab, DAY1)
        plan(cli, lab)
        due = status_report(cli, lab)["pending"]
        assert due > 60

        workers = [worker(lab, tmp_path) for _ in range(4)]
        deadline = time.monotonic() + 60
        while relay.log.count() < due // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert relay.log.count() >= due // 4, "the workers did not get going"
        victim = workers.pop()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            report = status_report(cli, lab)
            if report["sent"] == due:
                break
            time.sleep(0.5)
        for running in workers:
            running.send_signal(signal.SIGTERM)
        for running in workers:
            _, err = running.communicate(timeout=60)
            assert "Traceback" not in err, err

    report = status_report(cli, lab)
    assert report["sent"] == due, report
    per_recipient = Counter((a.rcpt_tos[0], a.message_id) for a in relay.log.accepted)
    repeats = {key: n for key, n in per_recipient.items() if n > 1}
    # The killed worker may have had one message in flight: at most that one comes twice,
    # with the same Message-ID.
    assert len(repeats) <= 1 and all(n == 2 for n in repeats.values()), repeats
    assert {rcpt for rcpt, _ in per_recipient} <= set(emails)
    sent = {d["email"] for d in report["deliveries"] if d["status"] == "sent"}
    assert {rcpt for rcpt, _ in per_recipient} == sent
