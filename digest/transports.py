"""Mail transports in the style of Django's mail backends: smtp, file (the outbox), memory."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import logging
import os
import queue
import re
import smtplib
import ssl
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tenacity import Retrying

from digest.config import Settings
from digest.errors import TransportError
from digest.mime import Email
from digest.models import utcnow

log = logging.getLogger(__name__)


class Transport(ABC):
    """Hands messages to a mail system; `open` before sending, `close` after (or use `with`)."""

    def open(self) -> None:  # noqa: B027 - a transport with nothing to open keeps this no-op
        """Connect, where the transport has anything to connect to."""

    def close(self) -> None:  # noqa: B027 - likewise
        """Release the connection."""

    @abstractmethod
    def send(self, email: Email) -> None:
        """Send one message; raise TransportError if it was not accepted."""

    def parallel(self, connections: int) -> list[Transport]:
        """This transport and up to `connections - 1` more like it, to send over at once.

        A transport that is not a connection (a folder, a list) is one sender: itself.
        """
        return [self]

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class MemoryTransport(Transport):
    """Keeps messages in a list, for tests and previews."""

    def __init__(self) -> None:
        self.outbox: list[Email] = []

    def send(self, email: Email) -> None:
        self.outbox.append(email)


class FileTransport(Transport):
    """Writes each message as an `.eml` file into a folder, the embedded default."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransportError(
                f"cannot create the outbox folder {self.folder}: {exc}", connection=True
            ) from None

    def send(self, email: Email) -> None:
        self.open()
        recipient = re.sub(r"[^\w.@+-]", "_", email.recipient)
        tag = hashlib.sha256(email.message_id.encode()).hexdigest()[:8]
        path = self.folder / f"{utcnow():%Y%m%d-%H%M%S}-{recipient}-{tag}.eml"
        # Written aside and renamed, so nobody opens half a message.
        temporary: Path | None = None
        try:
            descriptor, name = tempfile.mkstemp(dir=self.folder, suffix=".part")
            temporary = Path(name)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(email.data)
            temporary.replace(path)
            self.written.append(path)
        except OSError as exc:
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            # A folder that is read-only or full refuses every message alike, and will for
            # more than a retry's backoff: the round stops at the first, without retrying
            # (the message stays due). Only a name too long is this message's own.
            folder = exc.errno != errno.ENAMETOOLONG
            raise TransportError(
                f"cannot write {path}: {exc}", temporary=not folder, connection=folder
            ) from None
        log.info("wrote %s", path)


class SmtpTransport(Transport):
    """One SMTP connection for the whole run: TLS verified, login when a user is set."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: _Smtp | _SmtpSsl | None = None

    @property
    def _where(self) -> str:
        s = self._settings
        return f"SMTP server {s.smtp_host}:{s.smtp_port} ({s.smtp_security})"

    def open(self) -> None:
        if self._connection is not None:
            return
        s = self._settings
        context = ssl.create_default_context()
        connection: _Smtp | _SmtpSsl = (
            _SmtpSsl(timeout=s.smtp_timeout, context=context)
            if s.smtp_security == "ssl"
            else _Smtp(timeout=s.smtp_timeout)
        )
        connection.deadline = time.monotonic() + CONVERSATION_TIMEOUTS * s.smtp_timeout
        host = s.smtp_host or "localhost"
        # Made unconnected, so that the deadline covers the greeting too; TLS (SSL and
        # STARTTLS) checks the certificate against `_host`, which only a host given to the
        # constructor would set.
        connection._host = host
        try:
            try:
                connection.connect(host, s.smtp_port)
            except (OSError, smtplib.SMTPException) as exc:
                raise TransportError(
                    f"cannot connect to {self._where}: {_reason(exc)}", connection=True
                ) from None
            self._greet(connection, context)
        except BaseException:
            connection.close()
            raise
        connection.deadline = None
        self._connection = connection

    def _greet(self, connection: _Smtp | _SmtpSsl, context: ssl.SSLContext) -> None:
        s = self._settings
        try:
            if s.smtp_security == "starttls":
                connection.ehlo()
                if not connection.has_extn("starttls"):
                    raise TransportError(
                        f"{self._where} does not offer STARTTLS; set SMTP_SECURITY=none only "
                        "for a relay on this machine or a trusted network",
                        temporary=False,
                        connection=True,
                    )
                connection.starttls(context=context)
            # Within the opening's deadline: a relay that never ends its EHLO reply is one
            # that cannot be used, not a failure of the first message.
            connection.ehlo_or_helo_if_needed()
            if s.smtp_username:
                _login(connection, s.smtp_username, s.smtp_password or "")
        except smtplib.SMTPNotSupportedError:
            raise TransportError(
                f"{self._where} does not offer a login (AUTH); leave SMTP_USERNAME empty "
                "for a relay that needs none",
                temporary=False,
                connection=True,
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportError(
                f"{self._where} refused the login of SMTP_USERNAME={s.smtp_username!r}: "
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                temporary=_is_temporary(exc.smtp_code),
                connection=True,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(
                f"cannot connect to {self._where}: {_reason(exc)}", connection=True
            ) from None

    def parallel(self, connections: int) -> list[Transport]:
        """This connection and `connections - 1` more to the same relay, each opened on use."""
        return [self, *(SmtpTransport(self._settings) for _ in range(connections - 1))]

    def close(self) -> None:
        if self._connection is None:
            return
        self._connection.deadline = time.monotonic() + self._settings.smtp_timeout
        try:
            self._connection.quit()
        except (OSError, smtplib.SMTPException):
            self._connection.close()
        self._connection = None

    def send(self, email: Email) -> None:
        self.open()
        assert self._connection is not None
        self._connection.deadline = (
            time.monotonic() + CONVERSATION_TIMEOUTS * self._settings.smtp_timeout
        )
        try:
            _transact(self._connection, email)
        except _Unanswered as exc:
            self._connection.close()
            self._connection = None
            raise TransportError(
                f"{self._where} gave no answer to the end of the message ({exc}); it may "
                "have taken it, so it is not sent again in this run",
                unanswered=True,
            ) from None
        except _TooLarge as exc:
            raise TransportError(
                f"{self._where} takes messages of at most {exc.limit} bytes, this one is "
                f"{exc.size}: not sent",
                temporary=False,
                content=True,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            reasons = "; ".join(
                f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in exc.recipients.items()
            )
            codes = [code for code, _ in exc.recipients.values()]
            raise TransportError(
                f"{self._where} refused the recipient: {reasons}",
                temporary=all(_is_temporary(code) for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            if self._connection.sock is None:  # smtplib hung up itself, as on a 421
                self._connection = None
            raise TransportError(
                f"{self._where} refused the message: {exc.smtp_code} {_text(exc.smtp_error)}",
                temporary=_is_temporary(exc.smtp_code),
                content=_is_too_large(exc),
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            # Dropped mid-transaction: forget the connection, the next send reconnects.
            self._connection.close()
            self._connection = None
            raise TransportError(f"lost the connection to {self._where}: {_reason(exc)}") from None


def _login(connection: _Smtp | _SmtpSsl, user: str, password: str) -> None:
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


def _transact(connection: _Smtp | _SmtpSsl, email: Email) -> None:
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
            raise _TooLarge(int(limit), len(email.data))
        size = f" SIZE={len(email.data)}"
    code, reply = connection.docmd("MAIL", f"FROM:{_quoted(email.sender)}{size}")
    if code != 250:
        _abandon(connection, code)
        raise smtplib.SMTPSenderRefused(code, reply, email.sender)
    code, reply = connection.docmd("RCPT", f"TO:{_quoted(email.recipient)}")
    if code not in (250, 251):
        _abandon(connection, code)
        raise smtplib.SMTPRecipientsRefused({email.recipient: (code, reply)})
    code, reply = connection.docmd("DATA")
    if code != 354:
        _abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)
    connection.send(_dot_stuffed(email.data))
    try:
        code, reply = connection.getreply()
    except (OSError, smtplib.SMTPServerDisconnected) as exc:
        raise _Unanswered(_reason(exc)) from None
    if code != 250:
        _abandon(connection, code)
        raise smtplib.SMTPDataError(code, reply)


# The longest an SMTP conversation may take, in SMTP_TIMEOUTs: opening a connection
# (connect, EHLO, STARTTLS, login), or one message's transaction. SMTP_TIMEOUT bounds each
# read, and a relay that trickles an endless multi-line reply never lets one time out.
CONVERSATION_TIMEOUTS = 4


class _Unanswered(Exception):
    """The message was sent whole and no reply to its end came."""


class _TooLarge(Exception):
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


class _Smtp(_Deadline, smtplib.SMTP):
    pass


class _SmtpSsl(_Deadline, smtplib.SMTP_SSL):
    pass


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
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")


def _quoted(address: str) -> str:
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


def _dot_stuffed(data: bytes) -> bytes:
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


def _is_too_large(exc: smtplib.SMTPResponseException) -> bool:
    """552 to MAIL (with its SIZE) or to the end of DATA, or the enhanced status 5.3.4
    anywhere: the message is too large for the relay (RFC 1870, RFC 3463); the content's
    fault. A 552 to RCPT is the recipient's full mailbox, and is not this."""
    at_mail_or_data = isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError)
    return (exc.smtp_code == 552 and at_mail_or_data) or "5.3.4" in _text(exc.smtp_error)


def _is_temporary(code: int) -> bool:
    """4xx replies are worth another try; 5xx ones are final (RFC 5321, 4.2.1)."""
    return 400 <= code < 500


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class SlidingWindow:
    """At most `limit` events in any `window` seconds, across threads.

    Hand-written rather than taken from PyPI: `limits` only answers "allowed now?" and reads
    the wall clock itself, so waiting for a slot would poll it, and pyrate-limiter's
    buckets, clocks and changing API between majors are much more than this needs. Here
    `acquire` sleeps exactly until the oldest event leaves the window, and the clock and
    the sleep can be replaced, so tests count instead of timing.
    """

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """`sleep` replaces the wait (by default: `time.sleep`, or the `stop` event's wait)."""
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a slot and take it; False, without one, if `stop` is set meanwhile."""
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] <= now - self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return True
                delay = self._times[0] + self.window - now
            if self._sleep is not None:
                self._sleep(delay)
            elif stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
            if stop is not None and stop.is_set():
                return False


@cache
def rate_limiter(per_minute: int) -> SlidingWindow | None:
    """The process-wide limit of `per_minute` messages (DIGEST_SMTP_RATE); None if 0.

    One per process, not per round: a worker's next round must not start a fresh window.
    """
    return SlidingWindow(per_minute) if per_minute > 0 else None


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted message.

    `skipped`: never tried, because the pool stopped first. `crash`: an unexpected error in
    the sending thread, for the caller to raise.
    """

    key: int
    tries: int = 0
    error: TransportError | None = None
    skipped: bool = False
    crash: BaseException | None = None


class _Halted(Exception):
    """The pool stopped while a message waited for the rate limit."""


class SendingPool:
    """Sends messages over several transports at once, one thread per transport.

    `submit` queues a message under a key; `outcome` hands back, in the order they end, what
    became of them, each after at most `retrying()`'s tries. Every outcome must be
    `settle`d once the caller has recorded it: a thread takes a new message only while
    fewer than one message per transport is sent but not yet settled, so a crash of the
    process leaves at most that many unrecorded. A transport that cannot be used
    (`TransportError.connection`) stops the whole pool: messages in flight end, the ones
    still queued come back `skipped`.

    With one transport there is no thread: `outcome` sends the next queued message itself.
    Handing each message to a sending thread and its outcome back, the two threads taking
    turns on the GIL, cost a quarter of a single connection's throughput.
    """

    def __init__(
        self,
        transports: Sequence[Transport],
        retrying: Callable[[], Retrying],
        limiter: SlidingWindow | None = None,
    ) -> None:
        self._transports = list(transports)
        self._retrying = retrying
        self._limiter = limiter
        self._todo: queue.SimpleQueue[tuple[int, Email] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._unsettled = threading.Semaphore(len(self._transports))
        self._halt = threading.Event()
        self._inline = self._transports[0] if len(self._transports) == 1 else None
        self._held = False  # inline: an outcome handed out and not yet settled
        self._threads = [
            threading.Thread(target=self._run, args=(t,), name=f"smtp-{n}", daemon=True)
            for n, t in enumerate(self._transports)
            if self._inline is None
        ]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stopped(self) -> bool:
        """True once `stop` was called or a transport could not be used."""
        return self._halt.is_set()

    @property
    def waiting(self) -> int:
        """Messages submitted and not yet taken by a thread (roughly, as threads take them)."""
        return self._todo.qsize()

    def submit(self, key: int, email: Email) -> None:
        """Queue `email`; its outcome comes back under `key`."""
        self._todo.put((key, email))

    def outcome(self, timeout: float | None = None) -> Outcome | None:
        """The next outcome to end, waiting up to `timeout` seconds for it (None: no wait cap)."""
        if self._inline is not None:
            return self._send_inline()
        try:
            return self._done.get(timeout=timeout)
        except queue.Empty:
            return None

    def settle(self) -> None:
        """One outcome is recorded: a thread may take another message."""
        if self._inline is not None:
            self._held = False
        else:
            self._unsettled.release()

    def stop(self) -> None:
        """Take no new message; the ones in flight end, the queued ones come back skipped."""
        self._halt.set()

    def close(self) -> None:
        """Stop, wait for the threads, close every transport."""
        self.stop()
        for _ in self._threads:
            self._unsettled.release()  # a thread waiting for a settle that will not come
            self._todo.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join()
        for transport in self._transports:
            transport.close()

    def _run(self, transport: Transport) -> None:
        while True:
            # Once stopped, queued messages are only handed back: no permit needed for that.
            if not self._halt.is_set():
                self._unsettled.acquire()
            item = self._todo.get()
            if item is None:
                return
            self._done.put(self._attempt(transport, *item))

    def _send_inline(self) -> Outcome | None:
        """Send the next queued message here, unless the last outcome is not settled yet."""
        assert self._inline is not None
        if self._held:
            return None
        try:
            item = self._todo.get_nowait()
        except queue.Empty:
            return None
        assert item is not None  # the None that ends a thread is only queued with threads
        self._held = True
        return self._attempt(self._inline, *item)

    def _attempt(self, transport: Transport, key: int, email: Email) -> Outcome:
        if self._halt.is_set():
            return Outcome(key, skipped=True)
        try:
            return self._deliver(key, transport, email)
        except BaseException as exc:  # a bug: hand it to the caller instead of dying silently
            return Outcome(key, crash=exc)

    def _deliver(self, key: int, transport: Transport, email: Email) -> Outcome:
        tries = 0
        last: TransportError | None = None
        try:
            for attempt in self._retrying():
                with attempt:
                    if self._limiter is not None and not self._limiter.acquire(self._halt):
                        raise _Halted
                    tries += 1
                    try:
                        transport.send(email)
                    except TransportError as error:
                        last = error
                        raise
        except _Halted:
            return Outcome(key, tries, last, skipped=last is None)
        except TransportError as error:
            if error.connection:
                self.stop()
            return Outcome(key, tries, error)
        return Outcome(key, tries)


def make_transport(settings: Settings) -> Transport:
    """SMTP when SMTP_HOST is set, else the file outbox."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.outbox)
