"""The tests' SMTP servers on 127.0.0.1: one that records, and ones that misbehave on purpose
(flaky, slow, silent, refusing logins or large messages).

Each server records what it *accepted* (a 250 to the end of DATA) as `Accepted` rows, so a
test can count, per recipient and day, how many digests really arrived.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from digest.config import Settings
from tests.support import free_port

REFUSED = "550 5.1.1 no such user here"


@dataclass(frozen=True)
class Accepted:
    """One message the server accepted: its envelope and its bytes as they arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def recipient(self) -> str:
        """The one envelope recipient (digest sends each message to one)."""
        (recipient,) = self.rcpt_tos
        return recipient


@dataclass
class Log:
    """What a server accepted, and how often it misbehaved (thread-safe appends)."""

    accepted: list[Accepted] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, envelope: Envelope) -> None:
        with self.lock:
            self.accepted.append(
                Accepted(
                    str(envelope.mail_from),
                    tuple(envelope.rcpt_tos),
                    bytes(envelope.original_content or b""),
                )
            )

    def note(self, event: str) -> None:
        with self.lock:
            self.events[event] += 1

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    @property
    def messages(self) -> list[EmailMessage]:
        """The accepted messages, parsed, in the order they arrived."""
        with self.lock:
            return [accepted.message for accepted in self.accepted]


class RecordingHandler:
    """Accepts everything except `refuse` (550 at RCPT); records accepted messages."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.log = Log()
        self.refuse = refuse if refuse is not None else set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refuse:
            self.log.note("550")
            return REFUSED
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.log.accept(envelope)
        return "250 Message accepted for delivery"


class FlakyHandler(RecordingHandler):
    """A relay having a bad day, reproducibly (seeded).

    550 for every address in `refuse`; otherwise 451 to a share of RCPT and of DATA, and a
    share of DATA commands answered by hanging up instead (nothing accepted). `tempfail`
    addresses always get 451 at RCPT.
    """

    def __init__(
        self,
        seed: int,
        *,
        refuse: set[str] | None = None,
        tempfail: set[str] | None = None,
        rcpt_451: float = 0.0,
        data_451: float = 0.0,
        drop: float = 0.0,
    ) -> None:
        super().__init__(refuse)
        self.random = random.Random(seed)
        self.tempfail = tempfail if tempfail is not None else set()
        self.rcpt_451, self.data_451, self.drop = rcpt_451, data_451, drop

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address in self.refuse:
            self.log.note("550")
            return REFUSED
        if address in self.tempfail or self.random.random() < self.rcpt_451:
            self.log.note("rcpt 451")
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        roll = self.random.random()
        if roll < self.drop:
            self.log.note("dropped")
            assert server.transport is not None
            server.transport.abort()  # hang up mid-transaction: the client gets no reply
            return "421 4.4.2 gone"  # written to a closed transport: nobody reads it
        if roll < self.drop + self.data_451:
            self.log.note("data 451")
            return "451 4.3.0 local error in processing"
        self.log.accept(envelope)
        return "250 Message accepted for delivery"


class SlowHandler(RecordingHandler):
    """Takes `delay` seconds over each message before accepting it, as a busy relay does.

    A client killed during the delay leaves a message the server still accepts: the
    ambiguous in-flight one.
    """

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        self.log.accept(envelope)
        return "250 Message accepted for delivery"


def refuse_every_login(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    """An aiosmtpd authenticator that says no to everyone (535)."""
    return AuthResult(success=False, handled=False)


@dataclass
class SmtpServer:
    """A server on 127.0.0.1 with its handler (and so its log)."""

    host: str
    port: int
    handler: RecordingHandler

    @property
    def log(self) -> Log:
        return self.handler.log

    @property
    def refuse(self) -> set[str]:
        """The addresses refused for good (550 at RCPT); add and remove them at will."""
        return self.handler.refuse

    def settings(self, base: Settings) -> Settings:
        """`base` pointed at this server, without TLS (a loopback test relay)."""
        return dataclasses.replace(
            base, smtp_host=self.host, smtp_port=self.port, smtp_security="none", smtp_timeout=5
        )


@contextmanager
def serving(handler: RecordingHandler, **smtp_options: Any) -> Iterator[SmtpServer]:
    """Run `handler` on 127.0.0.1 and a free port for the duration of the block."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_options)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, handler)
    finally:
        controller.stop()


class SilentAfterDataHandler(RecordingHandler):
    """Reads each message whole, keeps it, and never answers the end of DATA: the client
    cannot know whether it was taken (it was)."""

    def __init__(self, silence: float = 60.0) -> None:
        super().__init__()
        self.silence = silence

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.log.accept(envelope)
        await asyncio.sleep(self.silence)
        return "250 too late"


class TooLargeHandler(RecordingHandler):
    """Refuses every message at the end of DATA as too large (552 5.3.4)."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.log.note("552")
        return "552 5.3.4 Message size exceeds fixed maximum message size"


@contextmanager
def trickling(line: bytes = b"250-still thinking\r\n", every: float = 0.2) -> Iterator[int]:
    """A server on 127.0.0.1 that greets, reads EHLO and then answers with an endless
    multi-line reply, a line every `every` seconds (for two minutes at most); its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve_one(client: socket.socket) -> None:
        with client:
            client.sendall(b"220 trickle ESMTP\r\n")
            client.recv(1024)
            deadline = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    client.sendall(line)
                except OSError:
                    return
                stop.wait(every)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(client,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(5)
