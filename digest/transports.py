"""Mail transports in the style of Django's mail backends: smtp, file (the outbox), memory."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import ssl
import tempfile
from abc import ABC, abstractmethod
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Self

from digest.config import Settings
from digest.errors import TransportError
from digest.models import utcnow

log = logging.getLogger(__name__)


class Transport(ABC):
    """Hands messages to a mail system; `open` before sending, `close` after (or use `with`)."""

    def open(self) -> None:  # noqa: B027 - a transport with nothing to open keeps this no-op
        """Connect, where the transport has anything to connect to."""

    def close(self) -> None:  # noqa: B027 - likewise
        """Release the connection."""

    @abstractmethod
    def send(self, message: EmailMessage) -> None:
        """Send one message; raise TransportError if it was not accepted."""

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
        self.outbox: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.outbox.append(message)


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

    def send(self, message: EmailMessage) -> None:
        self.open()
        recipient = re.sub(r"[^\w.@+-]", "_", str(message["To"].addresses[0].addr_spec))
        tag = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:8]
        path = self.folder / f"{utcnow():%Y%m%d-%H%M%S}-{recipient}-{tag}.eml"
        # Written aside and renamed, so nobody opens half a message.
        temporary: Path | None = None
        try:
            descriptor, name = tempfile.mkstemp(dir=self.folder, suffix=".part")
            temporary = Path(name)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(message.as_bytes())
            temporary.replace(path)
            self.written.append(path)
        except OSError as exc:
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            raise TransportError(f"cannot write {path}: {exc}") from None
        log.info("wrote %s", path)


class SmtpTransport(Transport):
    """One SMTP connection for the whole run: TLS verified, login when a user is set."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: smtplib.SMTP | None = None

    @property
    def _where(self) -> str:
        s = self._settings
        return f"SMTP server {s.smtp_host}:{s.smtp_port} ({s.smtp_security})"

    def open(self) -> None:
        if self._connection is not None:
            return
        s = self._settings
        context = ssl.create_default_context()
        host = s.smtp_host or "localhost"
        try:
            if s.smtp_security == "ssl":
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, s.smtp_port, timeout=s.smtp_timeout, context=context
                )
            else:
                connection = smtplib.SMTP(host, s.smtp_port, timeout=s.smtp_timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(
                f"cannot connect to {self._where}: {_reason(exc)}", connection=True
            ) from None
        try:
            self._greet(connection, context)
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    def _greet(self, connection: smtplib.SMTP, context: ssl.SSLContext) -> None:
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
            if s.smtp_username:
                connection.login(s.smtp_username, s.smtp_password or "")
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

    def close(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.quit()
        except (OSError, smtplib.SMTPException):
            self._connection.close()
        self._connection = None

    def send(self, message: EmailMessage) -> None:
        self.open()
        assert self._connection is not None
        try:
            self._connection.send_message(message)
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
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            # Dropped mid-transaction: forget the connection, the next send reconnects.
            self._connection.close()
            self._connection = None
            raise TransportError(f"lost the connection to {self._where}: {_reason(exc)}") from None


def _is_temporary(code: int) -> bool:
    """4xx replies are worth another try; 5xx ones are final (RFC 5321, 4.2.1)."""
    return 400 <= code < 500


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def make_transport(settings: Settings) -> Transport:
    """SMTP when SMTP_HOST is set, else the file outbox."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.outbox)
