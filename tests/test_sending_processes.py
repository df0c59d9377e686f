"""Sending one run's digests from several processes: real spawned processes on one SQLite
file (or PostgreSQL database), a real SMTP server on 127.0.0.1 and the file outbox."""

from __future__ import annotations

import dataclasses
import email
from collections import Counter
from datetime import date
from email import policy

import pytest
from sqlalchemy import Engine

from digest.compose import make_composer
from digest.config import Settings
from digest.jobs import run_daily
from digest.outbox.claims import count_due
from digest.outbox.history import status
from digest.sending import processes
from digest.sending.processes import send_from_processes, sending_processes
from digest.transports import FileTransport, SmtpTransport
from tests.smtp_servers import SlowHandler, serving
from tests.support import PENDING_DAY, pending_deliveries

# The day `digest run` plans and sends.
RUN_DAY = "2026-03-20"


def test_a_large_run_into_the_file_outbox_takes_a_process_per_core(settings, monkeypatch):
    monkeypatch.setattr(processes, "_cores", lambda: 2)
    assert sending_processes(settings, 5000) == 2
    # Too few digests to pay for starting a process, however many are asked for.
    assert sending_processes(settings, processes.MIN_SHARE * 2 - 1) == 1
    assert sending_processes(dataclasses.replace(settings, senders=3), 100_000) == 3
    assert sending_processes(dataclasses.replace(settings, senders=3), 2 * processes.MIN_SHARE) == 2


def test_smtp_sends_from_one_process_unless_told_and_a_rate_keeps_it_at_one(settings):
    smtp = dataclasses.replace(settings, smtp_host="relay.example.org")
    assert sending_processes(smtp, 100_000) == 1
    assert sending_processes(dataclasses.replace(smtp, senders=4), 100_000) == 4
    throttled = dataclasses.replace(smtp, senders=4, smtp_rate=600)
    assert sending_processes(throttled, 100_000) == 1


def test_two_processes_share_the_digests_and_each_goes_out_once(engine, settings):
    emails = pending_deliveries(engine, 40)
    handler = SlowHandler(0.02)
    ticks: list[int] = []
    with serving(handler) as relay:
        smtp = dataclasses.replace(relay.settings(settings), batch_size=2, senders=2)
        sending = send_from_processes(
            engine, smtp, SmtpTransport(smtp), make_composer(smtp), PENDING_DAY, 2, ticks.append
        )
    assert sending.problems == []
    assert sorted(sending.report.sent) == emails
    received = Counter(a.rcpt_tos[0] for a in handler.log.accepted)
    assert sorted(received) == emails and set(received.values()) == {1}
    # Both processes sent: the other started before this one took the first batch.
    assert len(sending.shares) == 2 and all(sending.shares) and sum(sending.shares) == 40
    assert sum(ticks) == 40
    assert status(engine, PENDING_DAY).counts["sent"] == 40
    assert count_due(engine, PENDING_DAY) == 0


def test_a_sending_process_that_fails_leaves_its_share_to_this_one(engine, settings):
    emails = pending_deliveries(engine, 12)
    handler = SlowHandler(0.0)
    with serving(handler) as relay:
        # The other process cannot send over SMTP without a secret; this one was given a
        # composer already.
        smtp = dataclasses.replace(relay.settings(settings), batch_size=2)
        composer = make_composer(smtp)
        unsigned = dataclasses.replace(smtp, secret=None)
        sending = send_from_processes(
            engine, unsigned, SmtpTransport(unsigned), composer, PENDING_DAY, 2
        )
    assert len(sending.problems) == 1
    assert "a sending process failed" in sending.problems[0]
    assert "DIGEST_SECRET" in sending.problems[0]
    assert sorted(sending.report.sent) == emails
    assert sending.shares == [12, 0]
    assert sorted(a.rcpt_tos[0] for a in handler.log.accepted) == emails
    assert status(engine, PENDING_DAY).counts["sent"] == 12


def test_a_parallel_daily_run_writes_every_digest_once(
    lab: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = "".join(
        f'[[subscriber]]\nemail = "reader{n:02d}@example.org"\nkeywords = ["video", "audio"]\n\n'
        for n in range(30)
    )
    lab.profiles.write_text(many)
    monkeypatch.setattr(processes, "MIN_SHARE", 10)
    settings = dataclasses.replace(lab, senders=2, batch_size=3)
    ticks: list[int] = []
    report = run_daily(
        engine,
        settings,
        date.fromisoformat(RUN_DAY),
        FileTransport(settings.outbox),
        parallel=True,
        progress=ticks.append,
    )
    assert report.ok, report.as_json()
    recipients = [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)["To"]
        for path in settings.outbox.glob("*.eml")
    ]
    assert sorted(recipients) == sorted(report.sending.sent)
    assert len(recipients) == len(set(recipients)) == 30
    assert sum(ticks) == 30
