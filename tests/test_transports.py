"""Transports: the file outbox, the in-memory list, and SMTP against a real local server."""

from __future__ import annotations

import dataclasses
import json
import os
import smtplib
import subprocess
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from digest.cli import main
from digest.config import Settings
from digest.errors import TransportError
from digest.mime import Email
from digest.sending.send import UNANSWERED_IN_A_ROW
from digest.transports import (
    FileTransport,
    MemoryTransport,
    SmtpTransport,
    Transport,
    make_transport,
)
from digest.transports.smtp_client import PLAIN_ADDRESS, dot_stuffed, quoted
from tests.smtp_servers import (
    RecordingHandler,
    SilentAfterDataHandler,
    SmtpServer,
    TooLargeHandler,
    serving,
    trickling,
)
from tests.support import composed, env_for, free_port

PASSWORD = "s3cret-PASS"


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection smtplib opens, as (host, port)."""
    calls: list[tuple[str, int]] = []
    original = smtplib.SMTP.connect

    def counting(self: smtplib.SMTP, host: str = "localhost", port: int = 0, *args, **kwargs):
        calls.append((host, port))
        return original(self, host, port, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", counting)
    return calls


# --- make_transport ---------------------------------------------------------------------------


def test_make_transport_is_file_without_smtp_host(settings: Settings) -> None:
    transport = make_transport(settings)
    assert isinstance(transport, FileTransport)
    assert transport.folder == settings.outbox


def test_make_transport_is_smtp_with_smtp_host(settings: Settings) -> None:
    transport = make_transport(dataclasses.replace(settings, smtp_host="mail.example.org"))
    assert isinstance(transport, SmtpTransport)


# --- MemoryTransport --------------------------------------------------------------------------


def test_memory_transport_keeps_messages_in_order(settings: Settings) -> None:
    first = composed(settings, "ada@example.org")
    second = composed(settings, "grace@example.org")
    with MemoryTransport() as transport:
        transport.deliver(first)
        transport.deliver(second)
    assert transport.outbox == [first, second]
    assert isinstance(transport, Transport)


# --- FileTransport ----------------------------------------------------------------------------


def test_file_transport_writes_one_eml_per_message(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "outbox"
    assert not folder.exists()
    messages = [
        composed(settings, "ada@example.org", "Ada"),
        composed(settings, "zoe@example.org", "Zoë Ångström", title="Zoë's paper 🚀"),
        composed(settings, "ada@example.org", "Ada", title="Second for Ada"),
    ]

    with FileTransport(folder) as transport:
        assert folder.is_dir()
        for message in messages:
            transport.deliver(message)

    files = sorted(folder.iterdir())
    assert len(files) == 3
    assert all(f.suffix == ".eml" for f in files)
    assert not list(folder.glob("*.part"))
    parsed = {parse(f.read_bytes())["Message-ID"]: parse(f.read_bytes()) for f in files}
    assert set(parsed) == {m.message_id for m in messages}
    for sent in messages:
        message = sent.message()
        stored = parsed[message["Message-ID"]]
        assert stored["To"].addresses == message["To"].addresses
        assert stored["Subject"] == message["Subject"]
        assert stored.get_content_type() == "multipart/alternative"
        assert stored.get_body(("html",)).get_content() == message.get_body(("html",)).get_content()
    assert sum("ada@example.org" in f.name for f in files) == 2
    assert sum("zoe@example.org" in f.name for f in files) == 1


def test_file_transport_names_are_safe_for_odd_recipients(
    settings: Settings, tmp_path: Path
) -> None:
    message = composed(settings, '"odd/../name"@example.org')
    with FileTransport(tmp_path / "out") as transport:
        transport.deliver(message)

    (written,) = (tmp_path / "out").iterdir()
    assert written.parent == tmp_path / "out"
    assert "/" not in written.name
    assert written.read_bytes() == message.data
    assert parse(written.read_bytes())["Message-ID"] == message.message_id


def test_file_transport_cannot_create_its_folder(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")

    with pytest.raises(TransportError, match="cannot create the outbox folder") as caught:
        FileTransport(blocker / "sub").open()
    assert str(blocker / "sub") in str(caught.value)


def test_file_transport_folder_gone_during_the_run_is_made_again(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "outbox"
    with FileTransport(folder) as transport:
        folder.rmdir()
        transport.deliver(composed(settings, "ada@example.org"))
    assert len(list(folder.glob("*.eml"))) == 1


def test_file_transport_that_cannot_write_raises_transport_error(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "outbox"
    with FileTransport(folder) as transport:
        folder.rmdir()
        folder.write_text("a file where the folder was")
        with pytest.raises(TransportError) as caught:
            transport.deliver(composed(settings, "ada@example.org"))
    assert str(folder) in str(caught.value)


# --- SmtpTransport ----------------------------------------------------------------------------


def test_smtp_delivers_to_the_envelope_recipient(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    message = composed(settings, "zoe@example.org", "Zoë Ångström", title="Ünïcödé 🚀 title")

    with SmtpTransport(smtp_server.settings(settings)) as transport:
        transport.deliver(message)

    (envelope,) = smtp_server.log.accepted
    assert envelope.mail_from == "digest@example.org"
    assert envelope.rcpt_tos == ("zoe@example.org",)
    (received,) = smtp_server.log.messages
    assert received["Message-ID"] == message.message_id
    assert received["To"].addresses[0].display_name == "Zoë Ångström"
    assert received["Subject"] == message.message()["Subject"]
    assert [p.get_content_type() for p in received.iter_parts()] == ["text/plain", "text/html"]
    assert "Ünïcödé 🚀 title" in received.get_body(("plain",)).get_content()


def test_smtp_reuses_one_connection_for_many_messages(
    settings: Settings, smtp_server: SmtpServer, connects: list[tuple[str, int]]
) -> None:
    recipients = [f"reader{n}@example.org" for n in range(4)]

    with SmtpTransport(smtp_server.settings(settings)) as transport:
        connection = transport._connection
        assert connection is not None
        for address in recipients:
            transport.deliver(composed(settings, address))
            assert transport._connection is connection
        transport.open()  # opening again is a no-op
        assert transport._connection is connection

    assert connects == [(smtp_server.host, smtp_server.port)]
    assert transport._connection is None
    assert [e.recipient for e in smtp_server.log.accepted] == recipients


def test_smtp_send_opens_the_connection_itself(
    settings: Settings, smtp_server: SmtpServer, connects: list[tuple[str, int]]
) -> None:
    transport = SmtpTransport(smtp_server.settings(settings))
    try:
        transport.deliver(composed(settings, "ada@example.org"))
        transport.deliver(composed(settings, "grace@example.org"))
    finally:
        transport.close()
    transport.close()  # closing twice is harmless

    assert len(connects) == 1
    assert len(smtp_server.log.accepted) == 2


def test_smtp_refused_recipient_names_address_and_code_and_next_message_goes_through(
    settings: Settings, smtp_server: SmtpServer, connects: list[tuple[str, int]]
) -> None:
    smtp_server.refuse.add("ghost@example.org")

    with SmtpTransport(smtp_server.settings(settings)) as transport:
        with pytest.raises(TransportError) as caught:
            transport.deliver(composed(settings, "ghost@example.org", "Ghost"))
        transport.deliver(composed(settings, "ada@example.org"))

    message = str(caught.value)
    assert "ghost@example.org" in message
    assert "550" in message
    assert "no such user here" in message
    assert f"{smtp_server.host}:{smtp_server.port}" in message
    assert [e.recipient for e in smtp_server.log.accepted] == ["ada@example.org"]
    assert len(connects) == 1


def test_smtp_reconnects_after_losing_the_connection(
    settings: Settings, smtp_server: SmtpServer, connects: list[tuple[str, int]]
) -> None:
    with SmtpTransport(smtp_server.settings(settings)) as transport:
        transport.deliver(composed(settings, "ada@example.org"))
        assert transport._connection is not None
        transport._connection.close()  # the socket goes away under the transport

        with pytest.raises(TransportError, match="lost the connection"):
            transport.deliver(composed(settings, "grace@example.org"))
        assert transport._connection is None
        transport.deliver(composed(settings, "alan@example.org"))

    assert len(connects) == 2
    assert [e.recipient for e in smtp_server.log.accepted] == [
        "ada@example.org",
        "alan@example.org",
    ]


def test_smtp_server_down(settings: Settings) -> None:
    port = free_port()
    down = dataclasses.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_timeout=5,
        smtp_username="bob",
        smtp_password=PASSWORD,
    )
    transport = SmtpTransport(down)

    with pytest.raises(TransportError) as caught:
        transport.open()
    message = str(caught.value)
    assert "cannot connect" in message
    assert f"127.0.0.1:{port}" in message
    assert PASSWORD not in message
    assert PASSWORD not in repr(caught.value)
    assert transport._connection is None

    with pytest.raises(TransportError, match="cannot connect"):
        transport.deliver(composed(settings, "ada@example.org"))


def test_smtp_starttls_not_offered(settings: Settings, smtp_server: SmtpServer) -> None:
    starttls = dataclasses.replace(
        smtp_server.settings(settings),
        smtp_security="starttls",
        smtp_username="bob",
        smtp_password=PASSWORD,
    )

    with pytest.raises(TransportError) as caught:
        SmtpTransport(starttls).open()
    message = str(caught.value)
    assert "does not offer STARTTLS" in message
    assert f"{smtp_server.host}:{smtp_server.port}" in message
    assert PASSWORD not in message
    assert PASSWORD not in repr(caught.value)
    assert not smtp_server.log.accepted


def test_smtp_ssl_against_a_plain_server(settings: Settings, smtp_server: SmtpServer) -> None:
    ssl = dataclasses.replace(
        smtp_server.settings(settings),
        smtp_security="ssl",
        smtp_username="bob",
        smtp_password=PASSWORD,
    )

    with pytest.raises(TransportError) as caught:
        SmtpTransport(ssl).open()
    message = str(caught.value)
    assert "cannot connect" in message
    assert f"{smtp_server.host}:{smtp_server.port} (ssl)" in message
    assert PASSWORD not in message
    assert PASSWORD not in repr(caught.value)


def test_smtp_login_not_offered_is_not_reported_as_missing_starttls(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    # SMTP_SECURITY=none with a username, against a server that does not advertise AUTH:
    # smtplib.login raises SMTPNotSupportedError, which open() reports as missing STARTTLS.
    plain_login = dataclasses.replace(
        smtp_server.settings(settings), smtp_username="bob", smtp_password=PASSWORD
    )

    with pytest.raises(TransportError) as caught:
        SmtpTransport(plain_login).open()
    message = str(caught.value)
    assert PASSWORD not in message
    assert "STARTTLS" not in message
    assert "AUTH" in message or "login" in message.lower()


# --- the SMTP transaction, smtplib's sendmail without its per-message parsing ----------------


@given(st.binary(max_size=64).map(lambda raw: raw.replace(b"x", b".").replace(b"y", b"\n")))
def test_dot_stuffing_sends_what_smtplib_sends(data: bytes) -> None:
    quoted = smtplib._quote_periods(data)  # what SMTP.data sends before its CRLF and dot
    if quoted[-2:] != b"\r\n":
        quoted += b"\r\n"

    assert dot_stuffed(data) == quoted + b".\r\n"


@given(st.from_regex(PLAIN_ADDRESS, fullmatch=True) | st.text(max_size=30))
def test_envelope_addresses_are_quoted_as_smtplib_quotes_them(address: str) -> None:
    assert quoted(address) == smtplib.quoteaddr(address)


def test_smtp_lines_starting_with_a_dot_arrive_whole(
    settings: Settings, smtp_server: SmtpServer
) -> None:
    body = b"Subject: dots\r\n\r\n.leading\r\n..two\r\nmid . dot\r\n.\r\nlast line"
    email = Email("digest@example.org", "ada@example.org", "<dots@example.org>", body)

    with SmtpTransport(smtp_server.settings(settings)) as transport:
        transport.deliver(email)

    (envelope,) = smtp_server.log.accepted
    assert envelope.raw == body + b"\r\n"


class _Refusing(RecordingHandler):
    """Answers the first MAIL with `mail`, and the end of the first DATA with `data`."""

    def __init__(self, mail: str | None = None, data: str | None = None) -> None:
        super().__init__()
        self.mail, self.data = mail, data

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        reply, self.mail = self.mail, None
        if reply is not None:
            return reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply, self.data = self.data, None
        return reply if reply is not None else await super().handle_DATA(server, session, envelope)


def test_smtp_sender_refused_resets_and_the_next_message_goes_through(
    settings: Settings, connects: list[tuple[str, int]]
) -> None:
    with (
        serving(_Refusing(mail="451 4.3.0 sender check failed")) as server,
        SmtpTransport(server.settings(settings)) as transport,
    ):
        with pytest.raises(TransportError) as caught:
            transport.deliver(composed(settings, "ada@example.org"))
        transport.deliver(composed(settings, "grace@example.org"))

    assert caught.value.temporary
    assert "451 4.3.0 sender check failed" in str(caught.value)
    assert [a.rcpt_tos for a in server.log.accepted] == [("grace@example.org",)]
    assert len(connects) == 1


def test_smtp_421_after_data_hangs_up_and_the_next_send_reconnects(
    settings: Settings, connects: list[tuple[str, int]]
) -> None:
    with (
        serving(_Refusing(data="421 4.3.2 shutting down")) as server,
        SmtpTransport(server.settings(settings)) as transport,
    ):
        with pytest.raises(TransportError) as caught:
            transport.deliver(composed(settings, "ada@example.org"))
        assert transport._connection is None
        transport.deliver(composed(settings, "grace@example.org"))

    assert caught.value.temporary
    assert "421 4.3.2 shutting down" in str(caught.value)
    assert [a.rcpt_tos for a in server.log.accepted] == [("grace@example.org",)]
    assert len(connects) == 2


# --- a relay that misbehaves, through `digest run` ----------------------------------------

DAY = "2026-03-20"
READERS = [f"reader{n}@example.org" for n in range(5)]


def readers(settings: Settings, tmp_path: Path) -> Settings:
    """`settings` with five subscribers whose broad keywords find papers on any page."""
    profiles = tmp_path / "readers.toml"
    profiles.write_text(
        "".join(
            f'[[subscriber]]\nemail = "{email}"\nkeywords = ["model", "learning"]\n'
            "max_papers = 2\n\n"
            for email in READERS
        )
    )
    return dataclasses.replace(settings, profiles=profiles, suspend_after=1)


def run_json(cli, settings: Settings, day: str = DAY) -> tuple[int, dict]:
    result = cli("run", "--date", day, "--json", settings_=settings)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout.splitlines()[-1])


def test_a_message_the_relay_never_answers_is_deferred_once_and_the_round_stops(cli, lab, tmp_path):
    """Fails before: each message was sent three times in the run (and the relay took every
    copy), and every digest of the day cost three timeouts plus backoff."""
    handler = SilentAfterDataHandler()
    with serving(handler) as server:
        settings = dataclasses.replace(readers(server.settings(lab), tmp_path), smtp_timeout=1)
        code, report = run_json(cli, settings)
    assert code == 1
    taken = [r for accepted in handler.log.accepted for r in accepted.rcpt_tos]
    assert len(taken) == UNANSWERED_IN_A_ROW == 3
    assert len(set(taken)) == len(taken)  # none sent twice
    assert sorted(d["email"] for d in report["deferred"]) == sorted(taken)
    assert all("gave no answer to the end of the message" in d["error"] for d in report["deferred"])
    assert report["stopped"].startswith("3 messages in a row got no answer")
    assert report["left_due"] == len(READERS)  # the three deferred and the two not tried
    assert report["failed"] == report["suspended"] == []


@pytest.mark.slow
def test_a_relay_that_never_ends_its_reply_is_given_up_at_the_deadline(lab, tmp_path):
    """Fails before: a reply trickled a line at a time never timed out, and the run hung."""
    with trickling() as port:
        settings = dataclasses.replace(
            lab, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none", smtp_timeout=1
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
        env |= env_for(settings)
        done = subprocess.run(
            [sys.executable, "-m", "digest", "run", "--date", DAY, "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["stopped"].startswith(f"cannot connect to SMTP server 127.0.0.1:{port} (none)")
    assert "outlasted its deadline" in report["stopped"]
    assert report["sent"] == report["failed"] == []


@pytest.mark.parametrize("refusal", ["552 at the end of DATA", "SIZE announced"])
def test_a_message_too_large_fails_without_counting_against_the_recipient(
    cli, lab, tmp_path, refusal
):
    """Fails before: a 552 counted toward suspending the recipient (here after one), and a
    message over the relay's announced SIZE was sent whole to be refused."""
    handler = TooLargeHandler() if refusal.startswith("552") else RecordingHandler()
    limit = {} if refusal.startswith("552") else {"data_size_limit": 2000}
    with serving(handler, **limit) as server:
        settings = readers(server.settings(lab), tmp_path)
        code, report = run_json(cli, settings)
    assert code == 1
    assert sorted(f["email"] for f in report["failed"]) == READERS
    assert report["suspended"] == []
    if limit:
        assert handler.log.accepted == []
        assert all("takes messages of at most 2000 bytes" in f["error"] for f in report["failed"])
        assert handler.log.events == {}
    else:
        assert handler.log.events["552"] == len(READERS)
    listed = cli("subscribers", "list", "--json", settings_=settings)
    assert not any(s["suspended"] for s in json.loads(listed.stdout.splitlines()[-1]))


def test_the_papers_of_a_failed_digest_are_offered_again_the_next_day(cli, lab, tmp_path):
    """Fails before: the papers of a digest that failed for good counted as sent, and the
    window of new papers started after it: the next day had nothing for anyone."""
    with serving(TooLargeHandler()) as server:
        settings = readers(server.settings(lab), tmp_path)
        _, first = run_json(cli, settings)
    assert sorted(f["email"] for f in first["failed"]) == READERS
    status = json.loads(cli("status", "--json", settings_=settings).stdout.splitlines()[-1])
    assert {d["papers"] for d in status["deliveries"]} == {2}
    handler = RecordingHandler()
    with serving(handler) as server:
        code, second = run_json(cli, server.settings(settings), "2026-03-21")
    assert code == 0, second
    assert sorted(second["sent"]) == READERS
    assert second["nothing_new"] == []
    status = json.loads(cli("status", "--json", settings_=settings).stdout.splitlines()[-1])
    papers = {(d["date"], d["status"]): d["papers"] for d in status["deliveries"]}
    assert papers == {(DAY, "failed"): 0, ("2026-03-21", "sent"): 2}
    retried = cli("retry", "--failed", settings_=settings)
    assert retried.stdout.startswith("0 deliveries due again")


def test_a_password_beyond_ascii_logs_in_with_utf8_plain(cli, lab, tmp_path):
    """Fails before: smtplib encoded the password as ASCII and the run crashed with a
    traceback."""
    password = "pässwörd-€-秘密"
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == password.encode())

    handler = RecordingHandler()
    with serving(handler, auth_require_tls=False, authenticator=authenticator) as server:
        settings = server.settings(lab)
        env = env_for(settings) | {"SMTP_USERNAME": "dïgest", "SMTP_PASSWORD": password}
        result = CliRunner().invoke(main, ["run", "--date", DAY, "--json"], env=env)
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert seen == [("dïgest".encode(), password.encode())]
    assert len(handler.log.accepted) == 3
    assert password not in result.output


def test_a_file_outbox_that_refuses_writes_stops_the_round_at_the_first(cli, lab, tmp_path):
    """Fails before: each message was tried three times, with backoff, then deferred, one
    after the other (about 6 s each with the default backoff)."""
    # sysfs refuses new files even to root, as a read-only or full folder would.
    settings = dataclasses.replace(readers(lab, tmp_path), outbox=Path("/sys"))
    code, report = run_json(cli, settings)
    assert code == 1
    (deferred,) = report["deferred"]
    assert deferred["error"].startswith("cannot write /sys/")
    assert "Permission denied" in deferred["error"]
    assert report["stopped"] == deferred["error"]
    assert report["left_due"] == len(READERS)
    status = json.loads(cli("status", "--json", settings_=settings).stdout.splitlines()[-1])
    assert [d["attempts"] for d in status["deliveries"] if d["status"] == "deferred"] == [1]
