"""The daily cycle end to end through the CLI: real pages, a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select, update

from digest.cli import LISTED_FILES
from digest.compose import SEED_CHARS, clipped
from digest.config import Settings
from digest.db import make_engine, unit_of_work
from digest.jobs import ProfilesSeen, run_daily, run_due
from digest.models import Delivery, DeliveryItem, Subscriber
from digest.transports import FileTransport
from digest.typography import typeset
from tests.smtp_servers import SmtpServer
from tests.support import free_port

DAY = "2026-03-20"
EXPECTED_KEYWORDS = {
    "ada@example.org": {"implicit neural representation", "video compression", "NeRV"},
    "grace@example.org": {
        "dense retrieval",
        "information retrieval",
        "legal case retrieval",
        "reranking",
    },
    "alan@example.org": {"speech recognition", "text-to-speech", "audio"},
}
# The papers of Ada's library (examples/library/ada.bib): the only seeds of the example.
LIBRARY_TITLES = {
    "ada@example.org": {
        "NeRV: Neural Representations for Videos",
        "HNeRV: A Hybrid Neural Representation for Videos",
        "NERV++: An Enhanced Implicit Neural Video Representation",
        "E-NeRV: Expedite Neural Video Representation with Disentangled Spatial-Temporal Context",
        "COIN: COmpression with Implicit Neural representations",
        "Implicit Neural Representations with Periodic Activation Functions",
        "Instant Neural Graphics Primitives with a Multiresolution Hash Encoding",
        "DVC: An End-to-end Deep Video Compression Framework",
    }
}


def plain(message: EmailMessage) -> str:
    """The plain-text part, with the line ends SMTP gave it folded back to newlines."""
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def titles(message: EmailMessage) -> list[str]:
    """The paper titles of a digest, in order, from its plain-text part."""
    text = plain(message)
    return re.findall(r"^\d+\. (.+)$", text, flags=re.MULTILINE)


def reasons(message: EmailMessage) -> list[tuple[set[str], set[str]]]:
    """Each pick's "why": the keywords it matches and the seed paper it is like."""
    picks = re.split(r"^\d+\. ", plain(message), flags=re.MULTILINE)[1:]
    found = []
    for pick in picks:
        strength = re.search(r"^   (?:Strong|Good|Weak) match(?: · matches (.+))?$", pick, re.M)
        assert strength, pick
        like = re.findall(r"^   Close to a paper you chose: (.+)$", pick, re.MULTILINE)
        found.append(
            (set(strength.group(1).split(", ")) - {""} if strength.group(1) else set(), set(like))
        )
    return found


def assert_reasons(mail: dict[str, list[EmailMessage]]) -> None:
    """Every pick says why: keywords of its reader, papers of their library, or both."""
    for email, (message, *_) in mail.items():
        why = reasons(message)
        assert len(why) == len(titles(message)), email
        shown = {clipped(typeset(title), SEED_CHARS) for title in LIBRARY_TITLES.get(email, ())}
        for matched, like in why:
            assert matched or like, email
            assert matched <= EXPECTED_KEYWORDS[email]
            assert like <= shown


def by_recipient(server: SmtpServer) -> dict[str, list[EmailMessage]]:
    mail: dict[str, list[EmailMessage]] = {}
    for envelope, message in zip(server.log.accepted, server.log.messages, strict=True):
        for rcpt in envelope.rcpt_tos:
            mail.setdefault(rcpt, []).append(message)
    return mail


def statuses(settings: Settings) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    with unit_of_work(engine) as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return dict(rows.all())


def test_three_subscribers_get_one_email_each_with_their_papers_on_top(cli, lab, smtp_server):
    smtp = smtp_server.settings(lab)
    result = cli("run", "--date", DAY, "--json", settings_=smtp)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert sorted(report["sent"]) == sorted(EXPECTED_KEYWORDS)
    assert report["ingest"]["papers_new"] == 431

    mail = by_recipient(smtp_server)
    assert sorted(mail) == sorted(EXPECTED_KEYWORDS)
    for email, messages in mail.items():
        assert len(messages) == 1
        message = messages[0]
        assert message["To"].addresses[0].addr_spec == email
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
        listed = titles(message)
        assert listed, email
        assert f"{len(listed)} new paper" in plain(message)
        assert message["Subject"].startswith(listed[0][:30])
    assert_reasons(mail)
    # Ada's library is her seeds: her picks name its papers as they name a seed.
    assert any(like for _, like in reasons(mail["ada@example.org"][0]))
    assert "neural representation" in titles(mail["ada@example.org"][0])[0].lower()
    assert "Retrieval" in titles(mail["grace@example.org"][0])[0]
    assert "Speech" in titles(mail["alan@example.org"][0])[0]
    assert statuses(lab) == {"sent": 3}


def test_excluded_terms_keep_papers_out(cli, lab, smtp_server):
    assert cli("run", "--date", DAY, settings_=smtp_server.settings(lab)).exit_code == 0
    for message in by_recipient(smtp_server)["alan@example.org"]:
        assert "music" not in plain(message).lower()


def test_preview_shows_what_run_sends_and_records_nothing(cli, lab, smtp_server, tmp_path):
    cli("subscribers", "sync", str(lab.profiles), settings_=lab)
    cli("ingest", str(lab.inbox), "--date", DAY, settings_=lab)
    out = tmp_path / "ada.html"
    result = cli("preview", "ada@example.org", "--date", DAY, "--out", str(out), settings_=lab)
    assert result.exit_code == 0, result.output
    text = cli("preview", "ada@example.org", "--date", DAY, "--text", settings_=lab).stdout
    assert statuses(lab) == {}
    assert smtp_server.log.accepted == []

    assert cli("run", "--date", DAY, settings_=smtp_server.settings(lab)).exit_code == 0
    sent = by_recipient(smtp_server)["ada@example.org"][0]
    assert re.findall(r"^\d+\. (.+)$", text, flags=re.MULTILINE) == titles(sent)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    for title in titles(sent):
        assert title.replace("&", "&amp;") in html
    after = cli("preview", "ada@example.org", "--date", DAY, "--text", settings_=lab).stdout
    assert after == plain(sent)


def test_with_embeddings_on_preview_and_run_agree_and_keywords_still_lead(cli, lab, smtp_server):
    """DIGEST_EMBEDDINGS=wordllama: the semantic part reorders picks; keyword alerts still
    pick only papers that hold a keyword (a library opens others, named by its papers), and
    the preview is what is sent."""
    pytest.importorskip("wordllama")
    lab = dataclasses.replace(lab, embeddings="wordllama")
    cli("subscribers", "sync", str(lab.profiles), settings_=lab)
    cli("ingest", str(lab.inbox), "--date", DAY, settings_=lab)
    text = cli("preview", "ada@example.org", "--date", DAY, "--text", settings_=lab)
    assert text.exit_code == 0, text.output
    off = dataclasses.replace(lab, embeddings="off")
    ranked = [
        cli("rank", "ada@example.org", "--date", DAY, "--json", settings_=s).stdout
        for s in (lab, off)
    ]
    assert ranked[0] != ranked[1]  # the scores, at least, weigh meaning

    result = cli("run", "--date", DAY, settings_=smtp_server.settings(lab))
    assert result.exit_code == 0, result.output
    mail = by_recipient(smtp_server)
    assert sorted(mail) == sorted(EXPECTED_KEYWORDS)
    for message in mail.values():
        assert titles(message[0])
    assert_reasons(mail)
    assert plain(mail["ada@example.org"][0]) == text.stdout


def test_second_run_the_same_day_sends_nothing(cli, lab, smtp_server):
    smtp = smtp_server.settings(lab)
    assert cli("run", "--date", DAY, settings_=smtp).exit_code == 0
    assert len(smtp_server.log.accepted) == 3
    again = cli("run", "--date", DAY, "--json", settings_=smtp)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.splitlines()[-1])["sent"] == []
    assert len(smtp_server.log.accepted) == 3


def test_no_paper_reaches_a_subscriber_twice_across_days(cli, lab, smtp_server, pages):
    first, second = sorted(pages.glob("*.txt"))[:3], sorted(pages.glob("*.txt"))[3:]
    shutil.rmtree(lab.inbox)
    lab.inbox.mkdir()
    for page in first:
        shutil.copy(page, lab.inbox)
    smtp = smtp_server.settings(lab)
    assert cli("run", "--date", "2026-03-20", settings_=smtp).exit_code == 0
    for page in second:
        shutil.copy(page, lab.inbox)
    assert cli("run", "--date", "2026-03-21", settings_=smtp).exit_code == 0
    assert cli("run", "--date", "2026-03-22", settings_=smtp).exit_code == 0

    mail = by_recipient(smtp_server)
    assert any(len(messages) == 2 for messages in mail.values())
    for email, messages in mail.items():
        seen = [title for message in messages for title in titles(message)]
        assert len(seen) == len(set(seen)), email
    engine = make_engine(lab.database_url)
    with unit_of_work(engine) as session:
        pairs = session.execute(select(DeliveryItem.subscriber_id, DeliveryItem.paper_id)).all()
    assert len(pairs) == len(set(pairs))


def test_subscriber_with_nothing_new_gets_no_email(cli, lab, smtp_server, tmp_path):
    profiles = tmp_path / "quiet.toml"
    profiles.write_text('[[subscriber]]\nemail = "q@example.org"\nkeywords = ["basket weaving"]\n')
    quiet = dataclasses.replace(smtp_server.settings(lab), profiles=profiles)
    result = cli("-v", "run", "--date", DAY, "--json", settings_=quiet)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["nothing_new"] == ["q@example.org"]
    assert "q@example.org: nothing new on 2026-03-20, no email" in result.output
    assert smtp_server.log.accepted == []
    preview = cli("preview", "q@example.org", "--date", DAY, settings_=quiet)
    assert preview.exit_code == 1
    assert "nothing new" in preview.output


def test_smtp_server_down_records_nothing_as_sent_and_the_next_run_delivers(cli, lab, smtp_server):
    down = dataclasses.replace(smtp_server.settings(lab), smtp_port=free_port())
    result = cli("run", "--date", DAY, settings_=down)
    assert result.exit_code == 1
    assert f"cannot connect to SMTP server 127.0.0.1:{down.smtp_port}" in result.output
    assert "3 digest(s) left for the next run" in result.output
    assert statuses(lab) == {"deferred": 1, "pending": 2}

    retry = cli("run", "--date", DAY, settings_=smtp_server.settings(lab))
    assert retry.exit_code == 0, retry.output
    assert statuses(lab) == {"sent": 3}
    assert sorted(by_recipient(smtp_server)) == sorted(EXPECTED_KEYWORDS)
    assert all(len(m) == 1 for m in by_recipient(smtp_server).values())


def test_a_refused_recipient_does_not_stop_the_others(cli, lab, smtp_server):
    smtp_server.refuse.add("grace@example.org")
    result = cli("run", "--date", DAY, "--json", settings_=smtp_server.settings(lab))
    assert result.exit_code == 1
    report = json.loads(result.stdout.splitlines()[-1])
    assert sorted(report["sent"]) == ["ada@example.org", "alan@example.org"]
    assert report["failed"][0]["email"] == "grace@example.org"
    assert "550" in report["failed"][0]["error"]
    assert statuses(lab) == {"sent": 2, "failed": 1}


def test_a_broken_profile_file_is_reported_and_the_stored_subscribers_still_get_mail(
    cli, lab, smtp_server
):
    assert cli("subscribers", "sync", str(lab.profiles), settings_=lab).exit_code == 0
    lab.profiles.write_text(lab.profiles.read_text().replace('email = "ada', 'emial = "ada'))
    result = cli("run", "--date", DAY, settings_=smtp_server.settings(lab))
    assert result.exit_code == 1
    assert "unknown key 'emial'" in result.output
    assert len(by_recipient(smtp_server)) == 3


def test_serve_syncs_the_profile_file_again_only_once_its_content_changed(lab, engine):
    """`serve`'s checks, nobody due (03:00 UTC, send time 07:00), each remembering the last."""
    assert lab.profiles is not None
    seen = ProfilesSeen()
    checks = (datetime(2026, 3, 20, 3, 0, tzinfo=UTC) + timedelta(minutes=5 * n) for n in range(9))

    def check() -> tuple[list[str] | None, list[str]]:
        report = run_due(engine, lab, next(checks), FileTransport(lab.outbox), seen=seen)
        return (report.profiles.updated if report.profiles else None), report.problems

    assert check() == ([], [])
    # Left alone, then rewritten with the same content: not synced (a sync would undo this).
    with unit_of_work(engine) as session:
        session.execute(update(Subscriber).values(name="changed in the database"))
    text = lab.profiles.read_text()
    assert check() == (None, [])
    lab.profiles.write_text(text)
    assert check() == (None, [])
    with unit_of_work(engine) as session:
        assert set(session.scalars(select(Subscriber.name))) == {"changed in the database"}

    lab.profiles.write_text(text.replace('"NeRV"', '"NeRV", "codec"'))
    assert sorted(check()[0] or []) == ["ada@example.org", "alan@example.org", "grace@example.org"]
    assert check() == (None, [])

    # A broken file is reported at every check while it stays broken, as when synced.
    lab.profiles.write_text(text.replace('email = "ada', 'emial = "ada'))
    updated, problems = check()
    assert updated == [] and "unknown key 'emial'" in problems[0]
    assert check() == (None, problems)
    lab.profiles.write_text(text)
    assert check() == (["ada@example.org"], [])


def test_file_transport_writes_one_eml_per_message_and_says_where(cli, lab):
    result = cli("run", "--date", DAY, settings_=lab)
    assert result.exit_code == 0, result.output
    written = sorted(lab.outbox.glob("*.eml"))
    assert len(written) == 3
    assert f"emails written to {lab.outbox}" in result.stdout
    for path in written:
        assert str(path) in result.stdout


def test_a_large_run_lists_the_first_emails_and_counts_the_rest(cli, lab):
    many = "".join(
        f'[[subscriber]]\nemail = "reader{n}@example.org"\nkeywords = ["video"]\n\n'
        for n in range(LISTED_FILES + 5)
    )
    lab.profiles.write_text(many)
    result = cli("run", "--date", DAY, settings_=lab)
    assert result.exit_code == 0, result.output
    written = list(lab.outbox.glob("*.eml"))
    assert len(written) == LISTED_FILES + 5
    listed = [line for line in result.stdout.splitlines() if line.strip().endswith(".eml")]
    assert len(listed) == LISTED_FILES
    assert "... and 5 more" in result.stdout


def test_run_reports_progress_for_every_digest_it_tries(lab, engine):
    ticks: list[int] = []
    due: list[int] = []
    report = run_daily(
        engine,
        lab,
        date.fromisoformat(DAY),
        FileTransport(lab.outbox),
        progress=ticks.append,
        due=due.append,
    )
    assert report.ok
    assert len(report.sending.sent) == 3
    assert due == [3]  # told before the first is sent
    assert ticks == [1, 1, 1]
