"""The outbox through the CLI: states and `digest status`, retry, suspension, recovery of
interrupted sends, and signed unsubscribe tokens, against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from click.testing import Result
from sqlalchemy import Engine, select

from digest.compose import make_composer
from digest.config import Settings
from digest.db import DatabaseBusy, make_engine, unit_of_work, upgrade
from digest.jobs import run_daily
from digest.models import Delivery, DeliveryItem, Subscriber, utcnow
from digest.outbox import record
from digest.outbox.claims import recover_interrupted
from digest.outbox.history import stored_digest, with_contents
from digest.outbox.record import enqueue, record_planned
from digest.planning import Planned, plan_digests
from digest.profiles import sync_profiles
from digest.sending.send import send_due
from digest.store import ingest
from digest.transports import MemoryTransport, make_transport
from digest.unsubscribe import TokenError, make_token, read_token
from tests.smtp_servers import FlakyHandler, RecordingHandler, serving
from tests.support import PAGES, add_delivery, free_port, sqlite_only

# One new page a day, small ones first, so every day brings new papers for everyone.
PAGE_OF_DAY = {
    "2026-03-20": "000_d067d0052f9a516d.txt",
    "2026-03-21": "002_902aa772df44fb6a.txt",
    "2026-03-22": "004_9ae350f601ced06d.txt",
    "2026-03-23": "003_7a0eb3a62e6b80d7.txt",
}
DAY1, DAY2, DAY3, DAY4 = PAGE_OF_DAY
SECRET = "test-secret-not-for-production"
BASE_URL = "https://digest.lab.example"
Cli = Callable[..., Result]


def profiles_file(path: Path, *emails: str) -> Path:
    """Subscribers whose broad keywords find papers on every sample page."""
    path.write_text(
        "".join(
            f'[[subscriber]]\nemail = "{email}"\nkeywords = ["model", "learning"]\n'
            "max_papers = 2\n\n"
            for email in emails
        )
    )
    return path


def new_day(settings: Settings, day: str) -> None:
    """Put the day's page into the inbox (the pages of earlier days stay, already ingested)."""
    settings.inbox.mkdir(exist_ok=True)
    shutil.copy(PAGES / PAGE_OF_DAY[day], settings.inbox)


@pytest.fixture
def office(tmp_path: Path, settings: Settings) -> Settings:
    """Settings for three subscribers with broad interests; the inbox starts empty."""
    settings.inbox.mkdir()
    profiles = profiles_file(
        tmp_path / "profiles.toml", "ada@example.org", "bob@example.org", "cy@example.org"
    )
    return dataclasses.replace(settings, profiles=profiles)


def last_json(result: Result) -> dict:
    return json.loads(result.stdout.splitlines()[-1])


def status_json(cli: Cli, settings: Settings, *args: str) -> dict:
    result = cli("status", "--json", *args, settings_=settings)
    assert result.exit_code == 0, result.output
    return last_json(result)


def counts(report: dict) -> dict[str, int]:
    return {key: report[key] for key in ("pending", "sending", "sent", "deferred", "failed")}


def by_email(report: dict, day: str | None = None) -> dict[str, dict]:
    rows = [d for d in report["deliveries"] if day is None or d["date"] == day]
    assert len({d["email"] for d in rows}) == len(rows), "one delivery per subscriber and day"
    return {d["email"]: d for d in rows}


def delivered(messages: list[EmailMessage], email: str) -> list[EmailMessage]:
    return [m for m in messages if m["To"].addresses[0].addr_spec == email]


def set_claim(settings: Settings, email: str, claimed_by: str, age: timedelta) -> str:
    """Mark `email`'s newest delivery as being sent by `claimed_by`; its Message-ID."""
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            delivery = session.scalars(
                select(Delivery)
                .join(Subscriber)
                .where(Subscriber.email == email)
                .order_by(Delivery.digest_date.desc())
            ).first()
            assert delivery is not None
            delivery.status = "sending"
            delivery.claimed_by = claimed_by
            delivery.claimed_at = utcnow() - age
            return delivery.message_id
    finally:
        engine.dispose()


def dead_pid() -> int:
    """The pid of a process of this host that has finished."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(done.stdout)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    return pid


def token_of(message: EmailMessage) -> tuple[str, str | None]:
    """The tokens in a message's List-Unsubscribe header: (from the mailto, from the web link)."""
    links = [part.strip().strip("<>") for part in str(message["List-Unsubscribe"]).split(",")]
    mailto = next(link for link in links if link.startswith("mailto:"))
    subject = unquote(parse_qs(urlsplit(mailto).query)["subject"][0])
    assert subject.startswith("unsubscribe ")
    web = [link for link in links if link.startswith("https://")]
    web_token = parse_qs(urlsplit(web[0]).query)["token"][0] if web else None
    return subject.removeprefix("unsubscribe "), web_token


# --- status and retry ---------------------------------------------------------------------


def test_status_counts_each_state_and_reports_every_delivery_as_json(cli, office, tmp_path):
    profiles_file(
        office.profiles, "ok@example.org", "gone@example.org", "busy@example.org", "inflight@x.org"
    )
    new_day(office, DAY1)

    # The relay is down: the first digest is deferred and the round stops, the rest pending.
    down = dataclasses.replace(office, smtp_host="127.0.0.1", smtp_port=free_port())
    down = dataclasses.replace(down, smtp_security="none", smtp_timeout=5)
    assert cli("run", "--date", DAY1, settings_=down).exit_code == 1
    report = status_json(cli, office)
    assert counts(report) == {"pending": 3, "sending": 0, "sent": 0, "deferred": 1, "failed": 0}
    assert report["suspended"] == 0
    rows = by_email(report)
    assert rows["ok@example.org"]["status"] == "deferred"
    assert "cannot connect to SMTP server 127.0.0.1" in rows["ok@example.org"]["error"]
    assert rows["ok@example.org"]["attempts"] == office.retry_attempts
    for email in ("gone@example.org", "busy@example.org", "inflight@x.org"):
        row = rows[email]
        assert {k: row[k] for k in ("email", "date", "status", "attempts", "error")} == {
            "email": email,
            "date": DAY1,
            "status": "pending",
            "attempts": 0,
            "error": None,
        }
        assert row["papers"] == 2
        assert row["message_id"].startswith("<") and row["message_id"].endswith("@example.org>")

    # Another process is sending inflight's digest right now: this run leaves it alone.
    set_claim(office, "inflight@x.org", f"{socket.gethostname()}:{os.getpid()}:cafe", timedelta())
    handler = FlakyHandler(1, refuse={"gone@example.org"}, tempfail={"busy@example.org"})
    with serving(handler) as server:
        result = cli("run", "--date", DAY1, "--json", settings_=server.settings(office))
    assert result.exit_code == 1
    assert [a.rcpt_tos for a in handler.log.accepted] == [("ok@example.org",)], result.output

    report = status_json(cli, office)
    assert counts(report) == {"pending": 0, "sending": 1, "sent": 1, "deferred": 1, "failed": 1}
    assert set(report) >= {
        "pending",
        "sending",
        "sent",
        "deferred",
        "failed",
        "suspended",
        "deliveries",
    }
    rows = by_email(report)
    assert rows["ok@example.org"]["status"] == "sent"
    assert rows["ok@example.org"]["error"] is None
    assert rows["ok@example.org"]["attempts"] == office.retry_attempts + 1
    assert rows["ok@example.org"]["message_id"] == handler.log.accepted[0].message_id
    assert rows["gone@example.org"]["status"] == "failed"
    assert rows["gone@example.org"]["attempts"] == 1  # a 550 is final: not tried again
    assert "550 5.1.1 no such user here" in rows["gone@example.org"]["error"]
    assert rows["busy@example.org"]["status"] == "deferred"
    assert rows["busy@example.org"]["attempts"] == office.retry_attempts
    assert "451 4.3.0 try again later" in rows["busy@example.org"]["error"]
    assert rows["inflight@x.org"]["status"] == "sending"
    for row in report["deliveries"]:
        assert isinstance(row["attempts"], int)
        assert row["date"] == DAY1

    # The human form says the same, reasons included.
    text = cli("status", settings_=office).stdout
    assert "0 pending, 1 sending, 1 sent, 1 deferred, 1 failed" in text
    assert "550 5.1.1 no such user here" in text
    assert "451 4.3.0 try again later" in text

    # retry: the deferred one only; --failed: the failed one too.
    retried = cli("retry", settings_=office)
    assert retried.exit_code == 0, retried.output
    assert "1 deliveries due again" in retried.stdout
    report = status_json(cli, office)
    assert counts(report) == {"pending": 1, "sending": 1, "sent": 1, "deferred": 0, "failed": 1}
    assert by_email(report)["busy@example.org"]["status"] == "pending"
    assert "1 deliveries due again" in cli("retry", "--failed", settings_=office).stdout
    report = status_json(cli, office)
    assert counts(report) == {"pending": 2, "sending": 1, "sent": 1, "deferred": 0, "failed": 0}
    assert status_json(cli, office, "--date", DAY2)["deliveries"] == []


def test_run_and_worker_report_a_round_in_the_same_json_shape(cli, office):
    """Before, `worker --json` listed a deferred digest as its address alone."""
    new_day(office, DAY1)
    handler = FlakyHandler(2, tempfail={"bob@example.org"})
    with serving(handler) as server:
        smtp = server.settings(office)
        run = last_json(cli("run", "--date", DAY1, "--json", settings_=smtp))
        assert cli("retry", settings_=smtp).exit_code == 0  # due now, not after its backoff
        worked = cli("worker", "--once", "--json", settings_=smtp)
    assert worked.exit_code == 1
    work = last_json(worked)
    for report in (run, work):
        (deferred,) = report["deferred"]
        assert deferred["email"] == "bob@example.org"
        assert "451" in deferred["error"]
        assert report["failed"] == report["suspended"] == []
        assert report["stopped"] is None
    assert set(work) == {"sent", "deferred", "failed", "suspended", "stopped", "left_due"}
    assert set(work) < set(run)
    assert work["sent"] == []


def test_deferred_digests_go_out_with_the_next_run_once_the_relay_recovers(cli, office):
    new_day(office, DAY1)
    handler = FlakyHandler(2, tempfail={"bob@example.org"})
    with serving(handler) as server:
        smtp = server.settings(office)
        first = cli("run", "--date", DAY1, "--json", settings_=smtp)
        assert first.exit_code == 1
        assert [d["email"] for d in last_json(first)["deferred"]] == ["bob@example.org"]
        handler.tempfail.clear()
        second = cli("run", "--date", DAY1, "--json", settings_=smtp)
    assert second.exit_code == 0, second.output
    assert last_json(second)["sent"] == ["bob@example.org"]
    assert sorted(r for a in handler.log.accepted for r in a.rcpt_tos) == [
        "ada@example.org",
        "bob@example.org",
        "cy@example.org",
    ]
    bob = by_email(status_json(cli, office))["bob@example.org"]
    assert bob["status"] == "sent"
    assert bob["attempts"] == office.retry_attempts + 1  # 451 three times, then sent


# --- suspension ---------------------------------------------------------------------------


def test_consecutive_refusals_across_days_suspend_until_retry_failed(cli, office, smtp_server):
    smtp = dataclasses.replace(smtp_server.settings(office), suspend_after=2)
    smtp_server.refuse.add("bob@example.org")

    new_day(office, DAY1)
    day1 = cli("run", "--date", DAY1, "--json", settings_=smtp)
    assert last_json(day1)["suspended"] == []
    assert status_json(cli, smtp)["suspended"] == 0

    new_day(office, DAY2)
    day2 = cli("run", "--date", DAY2, "--json", settings_=smtp)
    assert day2.exit_code == 1
    assert last_json(day2)["suspended"] == ["bob@example.org"]
    report = status_json(cli, smtp)
    assert report["suspended"] == 1
    assert report["suspended_subscribers"] == ["bob@example.org"]
    assert counts(report) == {"pending": 0, "sending": 0, "sent": 4, "deferred": 0, "failed": 2}
    assert "suspended: bob@example.org" in cli("status", settings_=smtp).stdout

    # Suspended: no digest is even planned for bob, and he is not "nothing new" either.
    new_day(office, DAY3)
    day3 = cli("run", "--date", DAY3, "--json", settings_=smtp)
    assert day3.exit_code == 0, day3.output
    assert sorted(last_json(day3)["sent"]) == ["ada@example.org", "cy@example.org"]
    assert last_json(day3)["nothing_new"] == []
    assert sorted(by_email(status_json(cli, smtp, "--date", DAY3))) == [
        "ada@example.org",
        "cy@example.org",
    ]

    # A plain retry does not touch failed deliveries nor the suspension.
    assert "0 deliveries due again" in cli("retry", settings_=smtp).stdout
    assert status_json(cli, smtp)["suspended_subscribers"] == ["bob@example.org"]

    smtp_server.refuse.clear()
    assert "2 deliveries due again" in cli("retry", "--failed", settings_=smtp).stdout
    report = status_json(cli, smtp)
    assert report["suspended"] == 0
    assert report["suspended_subscribers"] == []
    again = cli("run", "--date", DAY3, "--json", settings_=smtp)
    assert again.exit_code == 0, again.output
    assert last_json(again)["sent"] == ["bob@example.org"] * 3
    bob = delivered(smtp_server.log.messages, "bob@example.org")
    assert sorted(m["Subject"].split(":")[0] for m in bob) == [
        "Your paper digest for 20 Mar 2026",
        "Your paper digest for 21 Mar 2026",
        "Your paper digest for 22 Mar 2026",
    ]
    assert counts(status_json(cli, smtp))["sent"] == 9


def test_a_delivered_digest_resets_the_count_of_refusals(cli, office, smtp_server):
    smtp = dataclasses.replace(smtp_server.settings(office), suspend_after=2)
    for day, refused in ((DAY1, True), (DAY2, False), (DAY3, True), (DAY4, True)):
        new_day(office, day)
        if refused:
            smtp_server.refuse.add("cy@example.org")
        else:
            smtp_server.refuse.discard("cy@example.org")
        report = last_json(cli("run", "--date", day, "--json", settings_=smtp))
        expected = ["cy@example.org"] if day == DAY4 else []
        assert report["suspended"] == expected, day
    assert status_json(cli, smtp)["suspended_subscribers"] == ["cy@example.org"]
    assert len(delivered(smtp_server.log.messages, "cy@example.org")) == 1


def test_a_relay_that_cannot_be_used_fails_no_digest_and_suspends_nobody(cli, office, smtp_server):
    """A login the relay does not offer is the operator's problem, not the subscriber's:
    every digest stays due, nobody's refusals are counted, the fixed setup sends them all."""
    new_day(office, DAY1)
    smtp = dataclasses.replace(smtp_server.settings(office), suspend_after=1)
    with_login = dataclasses.replace(smtp, smtp_username="digest-user", smtp_password="s3cret-PASS")
    for _ in range(3):
        result = cli("run", "--date", DAY1, settings_=with_login)
        assert result.exit_code == 1
        assert "does not offer a login (AUTH)" in result.stderr
    report = status_json(cli, smtp)
    assert report["failed"] == 0, report["deliveries"]
    assert report["pending"] + report["deferred"] == 3
    assert report["suspended"] == 0

    fixed = cli("run", "--date", DAY1, "--json", settings_=smtp)
    assert fixed.exit_code == 0, fixed.output
    assert sorted(last_json(fixed)["sent"]) == [
        "ada@example.org",
        "bob@example.org",
        "cy@example.org",
    ]


# --- interrupted sends --------------------------------------------------------------------


def test_a_send_interrupted_by_a_dead_process_is_sent_again_with_the_same_message_id(
    cli, office, smtp_server
):
    new_day(office, DAY1)
    assert cli("subscribers", "sync", str(office.profiles), settings_=office).exit_code == 0
    down = dataclasses.replace(smtp_server.settings(office), smtp_port=free_port())
    assert cli("run", "--date", DAY1, settings_=down).exit_code == 1  # records, sends nothing
    claim = f"{socket.gethostname()}:{dead_pid()}:0badc0de"
    recorded = {
        email: set_claim(office, email, claim, timedelta(seconds=5))
        for email in ("ada@example.org", "bob@example.org", "cy@example.org")
    }
    assert counts(status_json(cli, office))["sending"] == 3

    result = cli("-v", "run", "--date", DAY1, "--json", settings_=smtp_server.settings(office))
    assert result.exit_code == 0, result.output
    assert "interrupted send, sending again" in result.output
    received = {m["To"].addresses[0].addr_spec: m["Message-ID"] for m in smtp_server.log.messages}
    assert received == recorded
    assert counts(status_json(cli, office))["sent"] == 3


def test_recover_interrupted_only_takes_back_dead_or_expired_claims(cli, office, smtp_server):
    new_day(office, DAY1)
    down = dataclasses.replace(smtp_server.settings(office), smtp_port=free_port())
    assert cli("run", "--date", DAY1, settings_=down).exit_code == 1
    host = socket.gethostname()
    set_claim(office, "ada@example.org", f"{host}:{os.getpid()}:live", timedelta(seconds=1))
    set_claim(office, "bob@example.org", f"{host}:{dead_pid()}:dead", timedelta(seconds=1))
    # On another machine nobody can tell whether pid 1 is ours: only the timeout decides.
    set_claim(office, "cy@example.org", "elsewhere.example:1:far", timedelta(seconds=1))
    engine = make_engine(office.database_url)
    try:
        with unit_of_work(engine) as session:
            ids = dict(
                session.execute(select(Subscriber.email, Delivery.id).join(Subscriber)).all()
            )
        assert recover_interrupted(engine, office) == [ids["bob@example.org"]]
        assert recover_interrupted(engine, office) == []
        expired = dataclasses.replace(office, claim_timeout=0.5)
        assert sorted(recover_interrupted(engine, expired)) == sorted(
            [ids["ada@example.org"], ids["cy@example.org"]]
        )
    finally:
        engine.dispose()


def test_a_live_claim_is_left_alone_until_it_is_older_than_the_claim_timeout(
    cli, office, smtp_server
):
    new_day(office, DAY1)
    down = dataclasses.replace(smtp_server.settings(office), smtp_port=free_port())
    assert cli("run", "--date", DAY1, settings_=down).exit_code == 1
    me = f"{socket.gethostname()}:{os.getpid()}:feed"
    message_id = set_claim(office, "ada@example.org", me, timedelta(seconds=30))
    smtp = dataclasses.replace(smtp_server.settings(office), claim_timeout=60)

    assert cli("run", "--date", DAY1, settings_=smtp).exit_code == 0
    assert sorted(r for e in smtp_server.log.accepted for r in e.rcpt_tos) == [
        "bob@example.org",
        "cy@example.org",
    ]
    ada = by_email(status_json(cli, smtp))["ada@example.org"]
    assert ada["status"] == "sending"

    set_claim(office, "ada@example.org", me, timedelta(seconds=61))
    result = cli("run", "--date", DAY1, "--json", settings_=smtp)
    assert result.exit_code == 0, result.output
    assert last_json(result)["sent"] == ["ada@example.org"]
    (ada_mail,) = delivered(smtp_server.log.messages, "ada@example.org")
    assert ada_mail["Message-ID"] == message_id
    assert counts(status_json(cli, smtp))["sent"] == 3


# --- unsubscribe --------------------------------------------------------------------------


def test_unsubscribe_tokens_from_the_header_stop_mail_for_good(cli, office, smtp_server):
    smtp = dataclasses.replace(smtp_server.settings(office), base_url=BASE_URL)
    new_day(office, DAY1)
    assert cli("run", "--date", DAY1, settings_=smtp).exit_code == 0
    messages = smtp_server.log.messages
    (ada,) = delivered(messages, "ada@example.org")
    (bob,) = delivered(messages, "bob@example.org")
    ada_mailto, ada_web = token_of(ada)
    assert ada_mailto == ada_web
    assert ada["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{BASE_URL}/unsubscribe?token=" in str(ada["List-Unsubscribe"])
    _, bob_web = token_of(bob)
    assert bob_web is not None

    applied = cli("unsubscribe", ada_mailto, settings_=smtp)  # the mailto subject's token
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.strip() == "ada@example.org unsubscribed"
    assert (
        cli("unsubscribe", bob_web, settings_=smtp).stdout.strip() == "bob@example.org unsubscribed"
    )
    twice = cli("unsubscribe", ada_web, settings_=smtp)
    assert twice.exit_code == 0
    assert twice.stdout.strip() == "ada@example.org was already unsubscribed"

    # Neither a sync of the unchanged profile file nor the next days bring mail back.
    assert cli("subscribers", "sync", str(office.profiles), settings_=smtp).exit_code == 0
    for day in (DAY2, DAY3):
        new_day(office, day)
        result = cli("run", "--date", day, "--json", settings_=smtp)
        assert result.exit_code == 0, result.output
        assert last_json(result)["sent"] == ["cy@example.org"]
    for email in ("ada@example.org", "bob@example.org"):
        assert len(delivered(smtp_server.log.messages, email)) == 1
    assert len(delivered(smtp_server.log.messages, "cy@example.org")) == 3


def _edited(token: str, position: int) -> str:
    # Swap in a character that changes the 6 bits it stands for in their top bits, so the
    # decoded bytes change too.
    char = token[position]
    replacement = "A" if char not in "ABCDEFGHIJKLMNOP" else "z"
    return token[:position] + replacement + token[position + 1 :]


def test_edited_forged_and_foreign_tokens_are_refused_and_change_nothing(cli, office, smtp_server):
    smtp = smtp_server.settings(office)
    new_day(office, DAY1)
    assert cli("run", "--date", DAY1, settings_=smtp).exit_code == 0
    token, web = token_of(delivered(smtp_server.log.messages, "ada@example.org")[0])
    assert web is None  # no DIGEST_BASE_URL: a mailto only
    assert token == make_token(SECRET, "ada@example.org")
    payload, _, signature = token.partition(".")
    bob_payload = make_token(SECRET, "bob@example.org").partition(".")[0]

    forged, malformed = "not valid here (wrong or forged signature)", "not an unsubscribe token"
    bad = {
        _edited(token, 0): (forged, malformed),
        _edited(token, len(payload) + 5): (forged,),
        _edited(token, len(token) - 2): (forged,),
        f"{bob_payload}.{signature}": (forged,),  # ada's signature on bob's address
        make_token("another-secret-of-16+-chars", "ada@example.org"): (forged,),
        token.replace(".", ""): (malformed,),
        token + "!": (malformed,),
        "garbage": (malformed,),
    }
    for candidate, problems in bad.items():
        assert candidate != token
        result = cli("unsubscribe", candidate, settings_=smtp)
        assert result.exit_code == 1, candidate
        assert result.stdout == ""
        assert result.stderr.startswith("error: "), result.stderr
        assert any(p in result.stderr for p in problems), (candidate, result.stderr)
        assert "Traceback" not in result.output

    stranger = cli("unsubscribe", make_token(SECRET, "eve@example.org"), settings_=smtp)
    assert stranger.exit_code == 1
    assert "no subscriber eve@example.org" in stranger.stderr

    new_day(office, DAY2)
    result = cli("run", "--date", DAY2, "--json", settings_=smtp)
    assert sorted(last_json(result)["sent"]) == [
        "ada@example.org",
        "bob@example.org",
        "cy@example.org",
    ]


def test_every_one_character_edit_of_a_token_is_refused():
    token = make_token(SECRET, "ada@example.org")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    accepted = []
    for position, char in enumerate(token):
        for replacement in alphabet.replace(char, ""):
            edited = token[:position] + replacement + token[position + 1 :]
            with contextlib.suppress(TokenError):
                accepted.append((edited, read_token(SECRET, edited)))
    assert accepted == [], f"{len(accepted)} edited tokens accepted, e.g. {accepted[0]}"


def test_unsubscribe_needs_the_secret(cli, office):
    unsigned = dataclasses.replace(office, secret=None)
    result = cli("unsubscribe", make_token(SECRET, "ada@example.org"), settings_=unsigned)
    assert result.exit_code == 1
    assert "DIGEST_SECRET is not set" in result.stderr


# --- List-Unsubscribe and the secret ------------------------------------------------------


def test_one_click_unsubscribe_header_only_with_a_base_url(cli, office, smtp_server):
    new_day(office, DAY1)
    assert cli("run", "--date", DAY1, settings_=smtp_server.settings(office)).exit_code == 0
    for message in smtp_server.log.messages:
        assert message["List-Unsubscribe-Post"] is None
        header = str(message["List-Unsubscribe"])
        assert header.startswith("<mailto:digest@example.org?subject=unsubscribe%20")
        assert "https://" not in header
        email = message["To"].addresses[0].addr_spec
        assert read_token(SECRET, token_of(message)[0]) == email


def test_smtp_without_a_secret_is_refused_before_anything_is_sent(cli, office, smtp_server):
    new_day(office, DAY1)
    unsigned = dataclasses.replace(smtp_server.settings(office), secret=None)
    result = cli("run", "--date", DAY1, settings_=unsigned)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: DIGEST_SECRET is not set")
    assert "secrets.token_urlsafe" in result.stderr
    assert smtp_server.log.accepted == []
    assert status_json(cli, office)["deliveries"] == []


def test_the_file_outbox_works_without_a_secret(cli, office):
    new_day(office, DAY1)
    unsigned = dataclasses.replace(office, secret=None, base_url=BASE_URL)
    result = cli("run", "--date", DAY1, settings_=unsigned)
    assert result.exit_code == 0, result.output
    written = sorted(office.outbox.glob("*.eml"))
    assert len(written) == 3
    for path in written:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["List-Unsubscribe"] == "<mailto:digest@example.org?subject=unsubscribe>"
        assert message["List-Unsubscribe-Post"] is None
        text = message.get_body(("plain",)).get_content()
        links = re.findall(r"mailto:\S+", text)
        assert links == ["mailto:digest@example.org?subject=unsubscribe"]


# --- enqueue ------------------------------------------------------------------------------


def _enqueue_setup(engine: Engine, office: Settings) -> None:
    """The office's three subscribers and DAY1's page, stored; nothing planned yet."""
    sync_profiles(engine, office.profiles)
    assert ingest(engine, [PAGES / PAGE_OF_DAY[DAY1]], date.fromisoformat(DAY1)).errors == []


def _deliveries(engine: Engine, day: str) -> dict[str, tuple[str, list[int]]]:
    """Each address' delivery of `day`: its Message-ID and its papers in rank order."""
    with unit_of_work(engine) as session:
        rows = session.scalars(
            with_contents().where(Delivery.digest_date == date.fromisoformat(day))
        ).all()
        return {d.subscriber.email: (d.message_id, [i.paper_id for i in d.items]) for d in rows}


def _plan(engine: Engine, office: Settings, day: str) -> list[Planned]:
    with unit_of_work(engine) as session:
        waiting = session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        return plan_digests(session, office, date.fromisoformat(day), waiting)


def test_enqueue_records_each_digest_with_its_papers_and_says_who_had_nothing_new(engine, office):
    _enqueue_setup(engine, office)
    assert enqueue(engine, office, date.fromisoformat(DAY1)) == []
    recorded = _deliveries(engine, DAY1)
    assert set(recorded) == {"ada@example.org", "bob@example.org", "cy@example.org"}
    assert all(len(papers) == 2 for _, papers in recorded.values())
    assert len({message_id for message_id, _ in recorded.values()}) == 3
    # Again the same day: everyone has their digest, nothing is planned twice.
    assert enqueue(engine, office, date.fromisoformat(DAY1)) == []
    assert _deliveries(engine, DAY1) == recorded
    # The next day brings no page: nothing new for anyone, and no delivery.
    assert sorted(enqueue(engine, office, date.fromisoformat(DAY2))) == [
        "ada@example.org",
        "bob@example.org",
        "cy@example.org",
    ]
    assert _deliveries(engine, DAY2) == {}


def test_a_digest_another_process_recorded_first_is_left_to_it(engine, office):
    _enqueue_setup(engine, office)
    planned = _plan(engine, office, DAY1)
    # Another run records Ada's digest between this one's planning and its writing.
    with unit_of_work(engine) as session:
        ada = session.scalar(select(Subscriber).where(Subscriber.email == "ada@example.org"))
        session.add(
            Delivery(
                subscriber_id=ada.id,
                digest_date=date.fromisoformat(DAY1),
                status="pending",
                message_id="<theirs@example.org>",
                subject="theirs",
            )
        )
    with unit_of_work(engine) as session:
        recorded = record_planned(session, date.fromisoformat(DAY1), planned)
    assert ada.id not in recorded and len(recorded) == 2
    deliveries = _deliveries(engine, DAY1)
    assert deliveries["ada@example.org"] == ("<theirs@example.org>", [])
    assert all(len(deliveries[e][1]) == 2 for e in ("bob@example.org", "cy@example.org"))


def test_a_digest_repeating_a_paper_already_sent_is_not_recorded_and_the_others_are(engine, office):
    _enqueue_setup(engine, office)
    planned = _plan(engine, office, DAY1)
    bob = next(p for p in planned if p.digest.recipient.email == "bob@example.org")
    repeated = bob.picks[0].paper_id
    # Another run, for another day, sent Bob that paper meanwhile.
    day_before = date.fromisoformat(DAY1) - timedelta(days=1)
    add_delivery(engine, bob.subscriber_id, day_before, [repeated])
    with unit_of_work(engine) as session:
        recorded = record_planned(session, date.fromisoformat(DAY1), planned)
    assert bob.subscriber_id not in recorded and len(recorded) == 2
    deliveries = _deliveries(engine, DAY1)
    assert set(deliveries) == {"ada@example.org", "cy@example.org"}
    with unit_of_work(engine) as session:
        sent_to_bob = session.scalars(
            select(DeliveryItem.paper_id).where(DeliveryItem.subscriber_id == bob.subscriber_id)
        ).all()
    assert sent_to_bob == [repeated]


def test_a_batch_sent_in_small_claims_carries_exactly_the_recorded_digests(engine, office):
    _enqueue_setup(engine, office)
    assert enqueue(engine, office, date.fromisoformat(DAY1)) == []
    with unit_of_work(engine) as session:
        expected = {
            d.subscriber.email: stored_digest(d) for d in session.scalars(with_contents()).all()
        }
    transport = MemoryTransport()
    # Claims of one delivery each: the papers they share are read once, in the first.
    report = send_due(engine, office, transport, make_composer(office), batch=1)

    assert sorted(report.sent) == sorted(expected)
    composer = make_composer(office)
    for email in transport.outbox:
        digest = expected[email.recipient]
        message = email.message()
        assert message["Message-ID"] == digest.message_id
        sent_text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert sent_text == composer.render(digest)[0]


def test_status_and_unsubscribe_answer_at_once_while_a_run_ranks(cli, office, monkeypatch):
    """Fails before: the run held SQLite's write lock through the whole ranking, so both
    commands waited for it (here up to the shortened busy timeout, then failed), and a
    subscriber who unsubscribed meanwhile would have been recorded a digest anyway."""
    new_day(office, DAY1)
    assert cli("subscribers", "sync", str(office.profiles), settings_=office).exit_code == 0
    monkeypatch.setattr("digest.db.BUSY_TIMEOUT_MS", 1000)
    ranked, proceed = threading.Event(), threading.Event()
    planned = record.plan_digests

    def plan_then_wait(*args, **kwargs) -> list[Planned]:
        plans = planned(*args, **kwargs)
        ranked.set()
        assert proceed.wait(60)
        return plans

    monkeypatch.setattr(record, "plan_digests", plan_then_wait)
    transport = MemoryTransport()
    engine = make_engine(office.database_url)
    reports = []
    runner = threading.Thread(
        target=lambda: reports.append(
            run_daily(engine, office, date.fromisoformat(DAY1), transport)
        )
    )
    runner.start()
    try:
        assert ranked.wait(60)
        status = cli("status", "--json", settings_=office)
        token = make_token(SECRET, "bob@example.org")
        unsubscribed = cli("unsubscribe", token, settings_=office)
    finally:
        proceed.set()
        runner.join(60)
        engine.dispose()
    assert status.exit_code == 0, status.output
    assert counts(last_json(status))["pending"] == 0
    assert unsubscribed.exit_code == 0, unsubscribed.output
    assert unsubscribed.stdout == "bob@example.org unsubscribed\n"
    (report,) = reports
    assert sorted(report.sending.sent) == ["ada@example.org", "cy@example.org"]
    assert sorted(m.recipient for m in transport.outbox) == ["ada@example.org", "cy@example.org"]
    assert "bob@example.org" not in by_email(status_json(cli, office), DAY1)


class _LockingHandler(RecordingHandler):
    """A relay that, as it takes a message, leaves the SQLite file locked by another
    connection: every write after the send fails, as on a full disk."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.holder: sqlite3.Connection | None = None

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.holder is None:
            self.holder = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.holder.execute("BEGIN IMMEDIATE")
        return await super().handle_DATA(server, session, envelope)


@sqlite_only
def test_when_giving_back_the_claims_fails_too_the_first_error_is_the_one_shown(
    office, monkeypatch, caplog
):
    """Fails before: the release's own error replaced the one that stopped the round (it
    was all the user saw), and nothing said the release had failed."""
    new_day(office, DAY1)
    engine = make_engine(office.database_url)
    upgrade(engine)
    run_daily(engine, office, date.fromisoformat(DAY1), MemoryTransport(), send=False)
    engine.dispose()
    monkeypatch.setattr("digest.db.BUSY_TIMEOUT_MS", 300)
    handler = _LockingHandler(office.database_url.removeprefix("sqlite:///"))
    engine = make_engine(office.database_url)
    try:
        with serving(handler) as server:
            settings = server.settings(office)
            with pytest.raises(DatabaseBusy) as caught:
                send_due(engine, settings, make_transport(settings), make_composer(settings), None)
    finally:
        engine.dispose()
        if handler.holder is not None:
            handler.holder.close()
    assert "stayed locked for 0.3 s" in str(caught.value)
    released = [r for r in caplog.records if "could not give back" in r.getMessage()]
    assert len(released) == 1
    assert "stayed locked" in released[0].getMessage()
    assert len(handler.log.accepted) == 1  # the message that went before the lock
