"""smtplib's client with a deadline over a whole conversation, and a leaner transaction.

What the SMTP transport (digest.transports.smtp) talks through: the same commands, replies
and exceptions as smtplib, with the time a relay may take bounded and less CPU a message.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import smtplib
import time
from typing import Any

from digest.mime import Email


def login(connection: Smtp | SmtpSsl, user: str, password: str) -> None:
    """smtplib's login; a user or password beyond ASCII goes as UTF-8 in AUTH PLAIN.

    smtplib encodes every credential as ASCII and fails on anything else; RFC 4616 defines
    PLAIN over UTF-8, which relays take.
    """
    if user.isascii() and password.isascii():
        connection.login(user, password)
        return
    connection.ehlo_or_helo_if_needed()
    if not connection.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
    if "PLAIN" not in connection.esmtp_features["auth"].upper().split():
        raise smtplib.SMTPAuthenticationError(
            504, b"a password beyond ASCII needs AUTH PLAIN, which this relay does not offer"
        )
    answer = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, reply = connection.docmd("AUTH", f"PLAIN {answer}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def transact(connection: Smtp | SmtpSsl, email: Email) -> None:
    """`connection.sendmail(email.sender, [email.recipient], email.data)`, for less CPU.

    The same commands, replies and exceptions, but smtplib escapes leading dots with a
    regular expression over the whole message and parses both addresses again for every
    message: at about 40 KB a digest those took half of a loopback send's time, where one
    bytes replace and a pattern check for plain addresses do the same.
    """
    connection.ehlo_or_helo_if_needed()
    size = ""
    if connection.has_extn("size"):
        # RFC 1870: the largest message the relay takes, 0 for no fixed limit. A larger one
        # would be refused after it was sent whole: it is not built into a transaction.
        limit = connection.esmtp_features["size"].strip()
        if limit.isdigit() and 0 < int(limit) < len(email.data):
            raise TooLarge(int(limit), len(email.data))
        size = f" SIZE={len(email.data)}"
    code, reply = connection.docmd("MAIL", f"FROM:{quoted(email.sender)}{size}")
    if code != 250:
        _abandon(connection, code)
        raise smtplib.SMTPSenderRefused(code, reply, email.sender)
    code, reply = connection.docmd("RCPT", f"TO:{quoted(email.recipient)}")
    if code not in (250, 251):
        _abandon(connection, code)
        raise smtplib.SMTPRecipientsRefused({email.recipient: (code, reply)})
    code, reply = connection.docmd("DATA")
    if code != 354:
        _abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)
    connection.send(dot_stuffed(email.data))
    try:
        code, reply = connection.getreply()
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise Unanswered(reason(exc)) from None
    if code != 250:
        _abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)


# The longest an SMTP conversation may take, in SMTP_TIMEOUTs: opening a connection
# (connect, EHLO, STARTTLS, login), or one message's transaction. SMTP_TIMEOUT bounds each
# read, and a relay that trickles an endless multi-line reply never lets one time out.
CONVERSATION_TIMEOUTS = 4


class Unanswered(Exception):
    """The message was sent whole and no reply to its end came."""


class TooLarge(Exception):
    """The message is larger than the relay's announced SIZE limit."""

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"{size} > {limit}")
        self.limit, self.size = limit, size


class _Deadline:
    """smtplib's client with a deadline over a whole conversation (`deadline`, a
    `time.monotonic()` value, or None for none).

    Every read and write is given the time left, at most SMTP_TIMEOUT; past the deadline
    it raises TimeoutError, which smtplib reports as a lost connection. Written here:
    smtplib has only the per-operation socket timeout.
    """

    deadline: float | None = None
    timeout: float
    sock: Any
    file: Any
    _host: str

    def time_left(self) -> float:
        """Seconds the next socket operation may take; TimeoutError past the deadline."""
        if self.deadline is None:
            return self.timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.overdue()
        return min(self.timeout, left)

    def overdue(self) -> TimeoutError:
        """The error of a conversation past its deadline."""
        return TimeoutError(
            f"the SMTP conversation outlasted its deadline ({CONVERSATION_TIMEOUTS} x SMTP_TIMEOUT)"
        )

    def getreply(self) -> tuple[int, bytes]:
        """smtplib's reply reader, over a file whose reads keep to the deadline."""
        if self.file is None and self.sock is not None:
            self.file = io.BufferedReader(_DeadlineReader(self))
        return super().getreply()  # type: ignore[misc]

    def send(self, s: Any) -> None:
        """smtplib's send, given the time left."""
        if self.sock is not None:
            self.sock.settimeout(self.time_left())
        super().send(s)  # type: ignore[misc]


class Smtp(_Deadline, smtplib.SMTP):
    """smtplib.SMTP keeping to the conversation's deadline."""


class SmtpSsl(_Deadline, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL keeping to the conversation's deadline."""


class _DeadlineReader(io.RawIOBase):
    """The client's socket as a raw file whose every read keeps to its deadline."""

    def __init__(self, client: _Deadline) -> None:
        self._client = client

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        client = self._client
        client.sock.settimeout(client.time_left())
        try:
            return int(client.sock.recv_into(buffer))
        except TimeoutError:
            # The last read is given only what time was left: say why it was short.
            if client.deadline is not None and time.monotonic() >= client.deadline:
                raise client.overdue() from None
            raise


# A dot-atom address (RFC 5322, 3.4.1), which smtplib.quoteaddr gives back as it is.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")


def quoted(address: str) -> str:
    if PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def dot_stuffed(data: bytes) -> bytes:
    """The message as DATA sends it (RFC 5321, 4.5.2): a dot starting a line doubled, the
    terminating dot line added; what smtplib's `(?m)^\\.` substitution gives."""
    stuffed = data.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def _abandon(connection: smtplib.SMTP, code: int) -> None:
    """After a refusal, as sendmail does: hang up on a 421, else reset the transaction."""
    if code == 421:
        connection.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        connection.rset()


def reason(exc: BaseException) -> str:
    """What went wrong, in words: the system's for an OSError, else the message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
