"""Settings from the environment (and `.env`, loaded by the CLI), each declared once.

A setting is a field of `Settings` made by `setting()`: its environment variable, its type
(digest.setting_types: how its text is read, its bounds), its default and a line saying
what it means. The loader below, the table of docs/settings.md (`python -m
digest.settings_doc`) and the tests' environments are made from these declarations, and a
test holds `.env.example` to them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal, TypeVar, overload
from zoneinfo import ZoneInfo

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from digest.errors import ConfigError
from digest.setting_types import (
    MEGABYTE,
    Choice,
    Clock,
    Embeddings,
    FilePath,
    Kind,
    Megabytes,
    Password,
    PublicUrl,
    Seconds,
    Secret,
    Sender,
    SourceUrl,
    Text,
    TimeZone,
    Whole,
)

T = TypeVar("T")
SmtpSecurity = Literal["starttls", "ssl", "none"]
_DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}
# More parallel connections than this looks like an attack to most relays, and buys nothing
# on a small machine: the sending threads share one interpreter.
MAX_SMTP_CONNECTIONS = 32
MAX_SENDERS = 64


@dataclass(frozen=True)
class Declared:
    """A setting's declaration: what `setting()` records on its field."""

    env: str
    kind: Kind[Any]
    meaning: str
    # The default as the documentation states it, where the value alone would mislead.
    shown_default: str | None = None
    # Where the default depends on other settings: computed from their values.
    fallback: Callable[[Mapping[str, Any]], Any] | None = None


@overload
def setting(
    env: str,
    kind: Kind[T],
    default: T,
    meaning: str,
    *,
    shown_default: str | None = None,
    fallback: Callable[[Mapping[str, Any]], T] | None = None,
) -> T: ...
@overload
def setting(
    env: str,
    kind: Kind[T],
    default: None,
    meaning: str,
    *,
    shown_default: str | None = None,
    fallback: Callable[[Mapping[str, Any]], T] | None = None,
) -> T | None: ...
def setting(
    env: str,
    kind: Kind[T],
    default: T | None,
    meaning: str,
    *,
    shown_default: str | None = None,
    fallback: Callable[[Mapping[str, Any]], T] | None = None,
) -> T | None:
    """Declare a field of `Settings`: read from `env` as a `kind`, else `default`.

    `meaning` is the one line docs/settings.md gives it. A setting whose default depends
    on others has a `fallback`, given the values of all the others, and a `shown_default`.
    """
    declared = Declared(env, kind, meaning, shown_default, fallback)
    field: T | None = dataclasses.field(
        default=default, repr=not kind.hidden, metadata={"setting": declared}
    )
    return field


def _port_for(values: Mapping[str, Any]) -> int:
    return _DEFAULT_PORTS[values["smtp_security"]]


@dataclass(frozen=True)
class Settings:
    """Everything digest reads from its environment, one declared setting a field."""

    database_url: str = setting(
        "DIGEST_DATABASE_URL",
        Text(),
        "sqlite:///digest.sqlite3",
        "SQLAlchemy URL of the database",
    )
    profiles: Path | None = setting(
        "DIGEST_PROFILES", FilePath(), Path("profiles.toml"), "subscriber profiles synced by `run`"
    )
    inbox: Path = setting(
        "DIGEST_INBOX", FilePath(), Path("inbox"), "folder of pages `run` ingests"
    )
    outbox: Path = setting(
        "DIGEST_OUTBOX",
        FilePath(),
        Path("outbox"),
        "folder of `.eml` files when no SMTP server is set",
    )
    sender: str = setting(
        "DIGEST_FROM", Sender(), "digest@localhost", "sender address; unsubscribe mail goes to it"
    )
    send_time: time = setting("DIGEST_SEND_TIME", Clock(), time(7, 0), "daily time of `serve`")
    timezone: ZoneInfo = setting(
        "DIGEST_TIMEZONE",
        TimeZone(),
        ZoneInfo("UTC"),
        'time zone of the send time and of "today"',
    )
    lookback_days: int = setting(
        "DIGEST_LOOKBACK_DAYS", Whole(minimum=1), 7, "days of papers a first digest looks back"
    )
    smtp_host: str | None = setting(
        "SMTP_HOST", Text(), None, "SMTP relay; none means the file outbox"
    )
    smtp_port: int = setting(
        "SMTP_PORT",
        Whole(minimum=1, maximum=65535),
        587,
        "port of the SMTP relay",
        shown_default="587, 465 or 25 by `SMTP_SECURITY`",
        fallback=_port_for,
    )
    smtp_username: str | None = setting(
        "SMTP_USERNAME", Text(), None, "login at the relay, when it needs one"
    )
    smtp_password: str | None = setting(
        "SMTP_PASSWORD", Password(), None, "password of that login, taken exactly as written"
    )
    smtp_security: SmtpSecurity = setting(
        "SMTP_SECURITY",
        Choice[SmtpSecurity]("starttls", "ssl", "none"),
        "starttls",
        "TLS to the relay (certificates always verified); `none` for a local relay only",
    )
    smtp_timeout: float = setting(
        "SMTP_TIMEOUT",
        Seconds(positive=True),
        30.0,
        "wait for one read or write; opening a connection, or a message, 4 times that in all",
    )
    # One connection by default: a crash then leaves at most one message ambiguous (sent
    # again, see digest.outbox), and submission relays that cap sessions per login keep
    # working; a relay of one's own takes 4 or more (see benchmarks/send.py).
    smtp_connections: int = setting(
        "DIGEST_SMTP_CONNECTIONS",
        Whole(minimum=1, maximum=MAX_SMTP_CONNECTIONS),
        1,
        "parallel SMTP connections per sending process",
    )
    smtp_rate: int = setting(
        "DIGEST_SMTP_RATE",
        Whole(minimum=0),
        0,
        "messages per minute per sending process (sliding window); 0 is unlimited",
    )
    # 0: one per core into the file outbox, one over SMTP, since each process opens its
    # own connections (see digest.sending.processes).
    senders: int = setting(
        "DIGEST_SENDERS",
        Whole(minimum=1, maximum=MAX_SENDERS),
        0,
        "processes that send a large `run`",
        shown_default="one per core (file outbox), 1 (SMTP)",
    )
    secret: str | None = setting(
        "DIGEST_SECRET", Secret(), None, "signs the emails' links; required to send over SMTP"
    )
    # The secret before the last rotation: checks the links in mail already sent, signs none.
    secret_previous: str | None = setting(
        "DIGEST_SECRET_PREVIOUS",
        Secret(),
        None,
        "the secret before a rotation: checks old links, signs none",
    )
    base_url: str | None = setting(
        "DIGEST_BASE_URL",
        PublicUrl(),
        None,
        "public address of `digest web`: one-click unsubscribe and feedback links",
    )
    source_url: str | None = setting(
        "DIGEST_SOURCE_URL", SourceUrl(), None, "HTTP source fetched by `run`; `{date}` is the day"
    )
    source_timeout: float = setting(
        "DIGEST_SOURCE_TIMEOUT", Seconds(), 30.0, "wait for the source's answer"
    )
    retry_attempts: int = setting(
        "DIGEST_RETRY_ATTEMPTS", Whole(minimum=1), 3, "tries per message or fetch"
    )
    retry_backoff: float = setting(
        "DIGEST_RETRY_BACKOFF", Seconds(), 2.0, "first wait between tries, doubling"
    )
    suspend_after: int = setting(
        "DIGEST_SUSPEND_AFTER",
        Whole(minimum=1),
        3,
        "permanent failures in a row before a subscriber is suspended",
    )
    claim_timeout: float = setting(
        "DIGEST_CLAIM_TIMEOUT",
        Seconds(),
        900.0,
        "age at which a silent sender's claim is taken over",
    )
    max_page_bytes: int = setting(
        "DIGEST_MAX_PAGE_MB", Megabytes(), 20 * MEGABYTE, "largest page accepted"
    )
    batch_size: int = setting(
        "DIGEST_BATCH_SIZE", Whole(minimum=1), 50, "deliveries a sender claims at once"
    )
    worker_poll: float = setting(
        "DIGEST_WORKER_POLL", Seconds(), 10.0, "wait of a worker between rounds"
    )
    # Pretrained text embeddings in the interest model (digest.embeddings): off by default.
    embeddings: str = setting(
        "DIGEST_EMBEDDINGS",
        Embeddings(),
        "off",
        "`wordllama` adds the semantic part (needs the `embeddings` extra)",
    )

    @property
    def sender_address(self) -> Address:
        """The From address as a structured header value."""
        name, addr = parseaddr(self.sender)
        username, _, domain = addr.partition("@")
        return Address(display_name=name, username=username, domain=domain)

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


def declared() -> list[tuple[str, Declared]]:
    """Each setting's field name and declaration, in the order of `Settings`."""
    return [(f.name, f.metadata["setting"]) for f in dataclasses.fields(Settings)]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `env` (default: the process environment); errors name the variable.

    A variable that is unset or blank takes its default.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    fallbacks: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = []
    for name, declaration in declared():
        text = env.get(declaration.env, "")
        if not declaration.kind.keeps_spaces:
            text = text.strip()
        if text:
            values[name] = declaration.kind.parse(declaration.env, text)
        elif declaration.fallback is not None:
            fallbacks.append((name, declaration.fallback))
    defaults = {f.name: f.default for f in dataclasses.fields(Settings)}
    for name, fallback in fallbacks:
        values[name] = fallback({**defaults, **values})
    if "secret_previous" in values and "secret" not in values:
        raise ConfigError(
            "DIGEST_SECRET_PREVIOUS is set without DIGEST_SECRET: the previous secret only "
            "checks old links, the current one signs new ones"
        )
    return Settings(**values)
