"""Settings from the environment (and `.env`, loaded by the CLI), validated once."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from email.headerregistry import Address
from email.utils import getaddresses, parseaddr
from ipaddress import ip_address
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from digest.embeddings import require as require_embedder
from digest.errors import ConfigError

SmtpSecurity = Literal["starttls", "ssl", "none"]
_DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}
_UTC = ZoneInfo("UTC")
# More parallel connections than this looks like an attack to most relays, and buys nothing
# on a small machine: the sending threads share one interpreter.
MAX_SMTP_CONNECTIONS = 32
MAX_SENDERS = 64


@dataclass(frozen=True)
class Settings:
    """Everything digest reads from its environment."""

    database_url: str = "sqlite:///digest.sqlite3"
    profiles: Path | None = Path("profiles.toml")
    inbox: Path = Path("inbox")
    outbox: Path = Path("outbox")
    sender: str = "digest@localhost"
    # The domain of every Message-ID and of the List-Id; None: the From address's.
    message_id_domain: str | None = None
    send_time: time = time(7, 0)
    timezone: ZoneInfo = _UTC
    lookback_days: int = 7
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: SmtpSecurity = "starttls"
    smtp_timeout: float = 30.0
    # One connection by default: a crash then leaves at most one message ambiguous (sent
    # again, see digest.outbox), and submission relays that cap sessions per login keep
    # working; a relay of one's own takes 4 or more (see benchmarks/send.py).
    smtp_connections: int = 1
    # Messages per minute across the process, for relays that throttle; 0 is unlimited.
    smtp_rate: int = 0
    # Processes that send a large `digest run` (see digest.senders); 0: one per core into
    # the file outbox, one over SMTP, since each process opens its own connections.
    senders: int = 0
    secret: str | None = field(default=None, repr=False)
    # The secret before the last rotation: checks the links in mail already sent, signs none.
    secret_previous: str | None = field(default=None, repr=False)
    base_url: str | None = None
    retry_attempts: int = 3
    retry_backoff: float = 2.0
    suspend_after: int = 3
    claim_timeout: float = 900.0
    max_page_bytes: int = 20 * 1024 * 1024
    source_url: str | None = None
    source_timeout: float = 30.0
    batch_size: int = 50
    worker_poll: float = 10.0
    # Pretrained text embeddings in the interest model (digest.embeddings): off by default.
    embeddings: str = "off"

    @property
    def sender_address(self) -> Address:
        """The From address as a structured header value."""
        name, addr = parseaddr(self.sender)
        username, _, domain = addr.partition("@")
        return Address(display_name=name, username=username, domain=domain)

    @property
    def id_domain(self) -> str:
        """The domain that Message-IDs and the List-Id are made in: DIGEST_MESSAGE_ID_DOMAIN,
        else the From address's."""
        return self.message_id_domain or self.sender_address.domain

    @property
    def transport_name(self) -> str:
        """`smtp` when a server is configured, else the `file` outbox."""
        return "smtp" if self.smtp_host else "file"

    def retrying(self, retryable: type[Exception], max_wait: float) -> Retrying:
        """The retry policy for temporary failures (DIGEST_RETRY_ATTEMPTS, _BACKOFF).

        Exceptions of `retryable` whose `temporary` attribute is true are tried again,
        waiting exponentially longer (at most `max_wait` seconds), unless `unanswered` says
        the first try may have worked; the last one is raised.
        """
        return Retrying(
            stop=stop_after_attempt(self.retry_attempts),
            wait=wait_exponential(multiplier=self.retry_backoff, max=max_wait),
            retry=retry_if_exception(
                lambda e: (
                    isinstance(e, retryable)
                    and getattr(e, "temporary", False)
                    and not getattr(e, "unanswered", False)
                )
            ),
            reraise=True,
        )

    @property
    def checking_secrets(self) -> tuple[str, str | None]:
        """The secret that signs links and the previous one that still checks them.

        ConfigError without DIGEST_SECRET: no link can be checked then.
        """
        if self.secret is None:
            raise ConfigError(
                "DIGEST_SECRET is not set: the links' tokens cannot be checked; set the "
                "secret the emails were signed with"
            )
        return self.secret, self.secret_previous

    def require_secret(self) -> str | None:
        """The unsubscribe secret; ConfigError when mail goes over SMTP without one.

        The file outbox of a trial run may do without: its links are then unsigned.
        """
        if self.secret is None and self.smtp_host:
            raise ConfigError(
                "DIGEST_SECRET is not set: it signs the unsubscribe links and is required to "
                "send over SMTP; make one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return self.secret


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `env` (default: the process environment); errors name the variable."""
    env = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    security = (get("SMTP_SECURITY") or "starttls").lower()
    if security not in _DEFAULT_PORTS:
        raise ConfigError(f"SMTP_SECURITY must be starttls, ssl or none, not {security!r}")
    profiles = get("DIGEST_PROFILES")
    defaults = Settings()
    return Settings(
        database_url=get("DIGEST_DATABASE_URL") or defaults.database_url,
        profiles=Path(profiles) if profiles else defaults.profiles,
        inbox=Path(get("DIGEST_INBOX") or defaults.inbox),
        outbox=Path(get("DIGEST_OUTBOX") or defaults.outbox),
        sender=_sender(get("DIGEST_FROM") or defaults.sender),
        message_id_domain=_domain(get("DIGEST_MESSAGE_ID_DOMAIN")),
        send_time=_send_time(get("DIGEST_SEND_TIME")) or defaults.send_time,
        timezone=_timezone(get("DIGEST_TIMEZONE")) or defaults.timezone,
        lookback_days=_int("DIGEST_LOOKBACK_DAYS", get("DIGEST_LOOKBACK_DAYS"), 7, minimum=1),
        smtp_host=get("SMTP_HOST"),
        smtp_port=_int(
            "SMTP_PORT", get("SMTP_PORT"), _DEFAULT_PORTS[security], minimum=1, maximum=65535
        ),
        smtp_username=get("SMTP_USERNAME"),
        smtp_password=env.get("SMTP_PASSWORD") or None,
        smtp_security=security,  # type: ignore[arg-type]
        smtp_timeout=float(_int("SMTP_TIMEOUT", get("SMTP_TIMEOUT"), 30, minimum=1)),
        smtp_connections=_int(
            "DIGEST_SMTP_CONNECTIONS",
            get("DIGEST_SMTP_CONNECTIONS"),
            defaults.smtp_connections,
            minimum=1,
            maximum=MAX_SMTP_CONNECTIONS,
        ),
        smtp_rate=_int("DIGEST_SMTP_RATE", get("DIGEST_SMTP_RATE"), 0, minimum=0),
        senders=_int("DIGEST_SENDERS", get("DIGEST_SENDERS"), 0, minimum=1, maximum=MAX_SENDERS),
        secret=_secret("DIGEST_SECRET", env.get("DIGEST_SECRET") or None),
        secret_previous=_previous_secret(
            env.get("DIGEST_SECRET_PREVIOUS") or None, env.get("DIGEST_SECRET") or None
        ),
        base_url=_base_url(get("DIGEST_BASE_URL")),
        retry_attempts=_int("DIGEST_RETRY_ATTEMPTS", get("DIGEST_RETRY_ATTEMPTS"), 3, minimum=1),
        retry_backoff=_seconds("DIGEST_RETRY_BACKOFF", get("DIGEST_RETRY_BACKOFF"), 2.0),
        suspend_after=_int("DIGEST_SUSPEND_AFTER", get("DIGEST_SUSPEND_AFTER"), 3, minimum=1),
        claim_timeout=_seconds("DIGEST_CLAIM_TIMEOUT", get("DIGEST_CLAIM_TIMEOUT"), 900.0),
        max_page_bytes=_int("DIGEST_MAX_PAGE_MB", get("DIGEST_MAX_PAGE_MB"), 20, minimum=1)
        * 1024
        * 1024,
        source_url=_source_url(get("DIGEST_SOURCE_URL")),
        source_timeout=_seconds("DIGEST_SOURCE_TIMEOUT", get("DIGEST_SOURCE_TIMEOUT"), 30.0),
        batch_size=_int("DIGEST_BATCH_SIZE", get("DIGEST_BATCH_SIZE"), 50, minimum=1),
        worker_poll=_seconds("DIGEST_WORKER_POLL", get("DIGEST_WORKER_POLL"), 10.0),
        embeddings=_embeddings(get("DIGEST_EMBEDDINGS")),
    )


def _embeddings(value: str | None) -> str:
    # Checked here, before a run ingests anything, not when ranking first needs it.
    name = (value or "off").lower()
    require_embedder(name)
    return name


def _source_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"https?://\S+", value):
        raise ConfigError(
            "DIGEST_SOURCE_URL must be an http(s) URL like "
            f"'https://huggingface.co/api/daily_papers?date={{date}}', not {value!r}"
        )
    return value


# A secret of fewer different characters than this is a word or a pattern, not a secret.
MIN_SECRET_CHARACTERS = 8


def _secret(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    distinct = set(value) - set(" 	")
    if len(value) < 16 or len(distinct) < MIN_SECRET_CHARACTERS:
        raise ConfigError(
            f"{name} must be at least 16 characters, {MIN_SECRET_CHARACTERS} of them "
            "different and not spaces (it signs the links in emails); make one with: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value


def _previous_secret(value: str | None, current: str | None) -> str | None:
    if value is not None and current is None:
        raise ConfigError(
            "DIGEST_SECRET_PREVIOUS is set without DIGEST_SECRET: the previous secret only "
            "checks old links, the current one signs new ones"
        )
    return _secret("DIGEST_SECRET_PREVIOUS", value)


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", value):
        raise ConfigError(
            f"DIGEST_BASE_URL must be an http(s) URL like 'https://digest.lab.org', not {value!r}"
        )
    url = urlsplit(value)
    try:
        host = url.hostname
        url.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise ConfigError(f"DIGEST_BASE_URL has a malformed host or port: {value!r}") from None
    if url.scheme.lower() == "http" and not _is_loopback(host or ""):
        # RFC 8058: the one-click link must be https; plain http only where nothing but
        # this machine can listen (tests, or a proxy on the same host).
        raise ConfigError(
            "DIGEST_BASE_URL must be https (the one-click unsubscribe link requires it); "
            f"http is accepted only on loopback addresses such as 127.0.0.1, not {value!r}"
        )
    return value.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 <= number < float("inf"):
        raise ConfigError(f"{name} must be zero or more seconds, not {value!r}")
    return number


def _sender(value: str) -> str:
    _, addr = parseaddr(value)
    if "@" not in addr or any(c in value for c in "\r\n") or len(getaddresses([value])) != 1:
        raise ConfigError(
            f"DIGEST_FROM must be an email address like 'Digest <digest@lab.org>', not {value!r}"
        )
    return value


def _domain(value: str | None) -> str | None:
    # A domain name as RFC 5322's dot-atom allows it in a Message-ID, and RFC 1035's labels.
    label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    if value is not None and not re.fullmatch(rf"{label}(?:\.{label})*", value):
        raise ConfigError(
            "DIGEST_MESSAGE_ID_DOMAIN must be a domain name like 'digest.lab.org' (letters, "
            f"digits, hyphens and dots), not {value!r}"
        )
    return value


def _send_time(value: str | None) -> time | None:
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f"DIGEST_SEND_TIME must be HH:MM (24-hour clock), not {value!r}")
    return time(int(match[1]), int(match[2]))


def _timezone(value: str | None) -> ZoneInfo | None:
    if value is None:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"DIGEST_TIMEZONE must be an IANA time zone like 'Europe/Paris', not {value!r}"
        ) from None


def _int(
    name: str, value: str | None, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {number}")
    return number
