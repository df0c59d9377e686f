"""The SMTP transport: connections to a relay, TLS always verified, a login when set."""

from __future__ import annotations

import smtplib
import ssl
import time

from digest.config import Settings
from digest.errors import TransportError
from digest.mime import Email
from digest.transports.base import Transport
from digest.transports.smtp_client import (
    CONVERSATION_TIMEOUTS,
    Smtp,
    SmtpSsl,
    TooLarge,
    Unanswered,
    login,
    reason,
    transact,
)


class SmtpTransport(Transport):
    """One SMTP connection for the whole run: TLS verified, login when a user is set."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connection: Smtp | SmtpSsl | None = None

    @property
    def _where(self) -> str:
        s = self._settings
        return f"SMTP server {s.smtp_host}:{s.smtp_port} ({s.smtp_security})"

    def open(self) -> None:
        if self._connection is not None:
            return
        s = self._settings
        context = ssl.create_default_context()
        connection: Smtp | SmtpSsl = (
            SmtpSsl(timeout=s.smtp_timeout, context=context)
            if s.smtp_security == "ssl"
            else Smtp(timeout=s.smtp_timeout)
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
                    f"cannot connect to {self._where}: {reason(exc)}", connection=True
                ) from None
            self._greet(connection, context)
        except BaseException:
            connection.close()
            raise
        connection.deadline = None
        self._connection = connection

    def _greet(self, connection: Smtp | SmtpSsl, context: ssl.SSLContext) -> None:
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
                login(connection, s.smtp_username, s.smtp_password or "")
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
                f"cannot connect to {self._where}: {reason(exc)}", connection=True
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

    def deliver(self, email: Email) -> None:
        self.open()
        assert self._connection is not None
        self._connection.deadline = (
            time.monotonic() + CONVERSATION_TIMEOUTS * self._settings.smtp_timeout
        )
        try:
            transact(self._connection, email)
        except Unanswered as exc:
            self._connection.close()
            self._connection = None
            raise TransportError(
                f"{self._where} gave no answer to the end of the message ({exc}); it may "
                "have taken it, so it is not sent again in this run",
                unanswered=True,
            ) from None
        except TooLarge as exc:
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
            # Dropped mid-transaction: forget the connection, the next delivery reconnects.
            self._connection.close()
            self._connection = None
            raise TransportError(f"lost the connection to {self._where}: {reason(exc)}") from None


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
