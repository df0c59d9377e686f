"""The types of settings: how each reads its text, checks its bounds, and writes it back.

A `Kind` turns the text of an environment variable into a value (raising a ConfigError
that names the variable and quotes the text), writes a value back as text, and says in a
few words what it accepts, for docs/settings.md.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import time
from email.utils import getaddresses, parseaddr
from ipaddress import ip_address
from pathlib import Path
from typing import ClassVar, Generic, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.embeddings import require as require_embedder
from digest.errors import ConfigError

T = TypeVar("T")
C = TypeVar("C", bound=str)
MEGABYTE = 1024 * 1024
# A secret of fewer different characters than this is a word or a pattern, not a secret.
MIN_SECRET_CHARACTERS = 8
MIN_SECRET_LENGTH = 16


class Kind(ABC, Generic[T]):
    """How a setting's text becomes its value, and back."""

    # Secrets and passwords are taken exactly as written, spaces and all...
    keeps_spaces = False
    # ...and kept out of the settings' repr, and so out of logs and tracebacks.
    hidden = False

    @abstractmethod
    def parse(self, name: str, text: str) -> T:
        """The value of `text` (never blank), or a ConfigError naming the variable `name`."""

    def format(self, value: T) -> str:
        """`value` written as the variable's text: `parse` reads it back as it was."""
        return str(value)

    @abstractmethod
    def describe(self) -> str:
        """What the setting accepts, in a few words."""


class Text(Kind[str]):
    """Any text."""

    def parse(self, name: str, text: str) -> str:
        return text

    def describe(self) -> str:
        return "text"


class Password(Text):
    """Any text, kept exactly as written, never shown."""

    keeps_spaces = True
    hidden = True


class FilePath(Kind[Path]):
    """A file or folder, relative to the working directory or absolute."""

    def parse(self, name: str, text: str) -> Path:
        return Path(text)

    def describe(self) -> str:
        return "path"


class Choice(Kind[C]):
    """One of a few words, in any case."""

    def __init__(self, *choices: C) -> None:
        self.choices = choices

    def parse(self, name: str, text: str) -> C:
        word = text.lower()
        for choice in self.choices:
            if word == choice:
                return choice
        raise ConfigError(f"{name} must be {self.describe()}, not {word!r}")

    def describe(self) -> str:
        return f"{', '.join(self.choices[:-1])} or {self.choices[-1]}"


class Embeddings(Choice[str]):
    """The interest model's optional semantic part: its library is checked at once, before
    a run ingests anything, not when ranking first needs it."""

    def __init__(self) -> None:
        super().__init__("off", "wordllama")

    def parse(self, name: str, text: str) -> str:
        word = text.lower()
        require_embedder(word)
        return word


class Whole(Kind[int]):
    """A whole number within bounds."""

    def __init__(self, minimum: int, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def parse(self, name: str, text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {text!r}") from None
        if number < self.minimum:
            raise ConfigError(f"{name} must be at least {self.minimum}, not {number}")
        if self.maximum is not None and number > self.maximum:
            raise ConfigError(f"{name} must be at most {self.maximum}, not {number}")
        return number

    def describe(self) -> str:
        if self.maximum is None:
            return f"whole number, {self.minimum} or more"
        return f"whole number, {self.minimum} to {self.maximum}"


class Megabytes(Kind[int]):
    """A size given in whole megabytes (MiB), held in bytes."""

    def __init__(self) -> None:
        self._whole = Whole(minimum=1)

    def parse(self, name: str, text: str) -> int:
        return self._whole.parse(name, text) * MEGABYTE

    def format(self, value: int) -> str:
        return str(value // MEGABYTE)

    def describe(self) -> str:
        return "whole number of MB, 1 or more"


class Seconds(Kind[float]):
    """A duration in seconds, decimals allowed: zero or more, or with `positive` more than zero."""

    def __init__(self, *, positive: bool = False) -> None:
        self.positive = positive

    def parse(self, name: str, text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds, not {text!r}") from None
        if not 0 <= number < float("inf"):
            raise ConfigError(f"{name} must be zero or more seconds, not {text!r}")
        if self.positive and number == 0:
            raise ConfigError(f"{name} must be more than zero seconds, not {text!r}")
        return number

    def format(self, value: float) -> str:
        return f"{value:g}"

    def describe(self) -> str:
        return "seconds, more than 0" if self.positive else "seconds, 0 or more"


class Clock(Kind[time]):
    """A time of day on the 24-hour clock, HH:MM."""

    def parse(self, name: str, text: str) -> time:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ConfigError(f"{name} must be HH:MM (24-hour clock), not {text!r}")
        return time(int(match[1]), int(match[2]))

    def format(self, value: time) -> str:
        return f"{value:%H:%M}"

    def describe(self) -> str:
        return "HH:MM"


class TimeZone(Kind[ZoneInfo]):
    """An IANA time zone."""

    def parse(self, name: str, text: str) -> ZoneInfo:
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{name} must be an IANA time zone like 'Europe/Paris', not {text!r}"
            ) from None

    def format(self, value: ZoneInfo) -> str:
        return value.key

    def describe(self) -> str:
        return "IANA time zone"


class Sender(Kind[str]):
    """One email address, with or without a display name; never a header's line break."""

    def parse(self, name: str, text: str) -> str:
        _, addr = parseaddr(text)
        if "@" not in addr or any(c in text for c in "\r\n") or len(getaddresses([text])) != 1:
            raise ConfigError(
                f"{name} must be an email address like 'Digest <digest@lab.org>', not {text!r}"
            )
        return text

    def describe(self) -> str:
        return "email address"


class Matching(Kind[str]):
    """Text that matches `pattern` whole; the error says what is `wanted`, by example."""

    pattern: ClassVar[str]
    wanted: ClassVar[str]

    def parse(self, name: str, text: str) -> str:
        if not re.fullmatch(self.pattern, text):
            raise ConfigError(f"{name} must be {self.wanted}, not {text!r}")
        return text


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


class DomainName(Matching):
    """A domain name of letters, digits and hyphens between dots, as a Message-ID's right
    side (RFC 5322's dot-atom) and DNS labels (RFC 1035) both allow it."""

    pattern = rf"{_LABEL}(?:\.{_LABEL})*"
    wanted = "a domain name like 'digest.lab.org' (letters, digits, hyphens and dots)"

    def describe(self) -> str:
        return "domain name"


class Secret(Kind[str]):
    """A signing secret: long, of enough different characters, taken exactly as written."""

    keeps_spaces = True
    hidden = True

    def parse(self, name: str, text: str) -> str:
        distinct = set(text) - set(" \t")
        if len(text) < MIN_SECRET_LENGTH or len(distinct) < MIN_SECRET_CHARACTERS:
            raise ConfigError(
                f"{name} must be at least {MIN_SECRET_LENGTH} characters, "
                f"{MIN_SECRET_CHARACTERS} of them different and not spaces (it signs the "
                "links in emails); make one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return text

    def describe(self) -> str:
        return f"{MIN_SECRET_LENGTH}+ characters, {MIN_SECRET_CHARACTERS}+ different"


class SourceUrl(Matching):
    """An http(s) URL in which `{date}` stands for the day."""

    pattern = r"https?://\S+"
    wanted = "an http(s) URL like 'https://huggingface.co/api/daily_papers?date={date}'"

    def describe(self) -> str:
        return "http(s) URL"


class PublicUrl(Matching):
    """The public address of the web side: https, or http on a loopback address only."""

    pattern = r"https?://[^\s/?#@]+(/[^\s?#]*)?"
    wanted = "an http(s) URL like 'https://digest.lab.org'"

    def parse(self, name: str, text: str) -> str:
        super().parse(name, text)
        url = urlsplit(text)
        try:
            host = url.hostname
            url.port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise ConfigError(f"{name} has a malformed host or port: {text!r}") from None
        if url.scheme.lower() == "http" and not _is_loopback(host or ""):
            # RFC 8058: the one-click link must be https; plain http only where nothing but
            # this machine can listen (tests, or a proxy on the same host).
            raise ConfigError(
                f"{name} must be https (the one-click unsubscribe link requires it); "
                f"http is accepted only on loopback addresses such as 127.0.0.1, not {text!r}"
            )
        return text.rstrip("/")

    def describe(self) -> str:
        return "https URL (http on loopback)"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
