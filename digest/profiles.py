"""Subscriber profiles: a TOML file people edit by hand, validated and synced to the database."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, select

from digest.db import serialize, unit_of_work
from digest.errors import LibraryError, ProfileError
from digest.library import SUFFIXES, Library, parse_export, read_export
from digest.limits import SUBSCRIBER_EMAIL, SUBSCRIBER_LIBRARY, SUBSCRIBER_NAME
from digest.models import Frequency, Subscriber
from digest.rhythm import WEEKDAYS

log = logging.getLogger(__name__)

DEFAULT_MAX_PAPERS = 10
_FIELDS = (
    "email",
    "name",
    "keywords",
    "seeds",
    "library",
    "exclude",
    "max_papers",
    "min_score",
)
_SEED_FIELDS = ("title", "abstract")
# ASCII addresses only (RFC 5322 dot-atoms): what every relay carries without SMTPUTF8.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 5321, 4.5.3.1: a local part of at most 64 octets, a path of at most 256 with its
# angle brackets, so an address of at most 254; the column holds more (320).
MAX_LOCAL_PART = 64
MAX_ADDRESS = min(254, SUBSCRIBER_EMAIL)


@dataclass(frozen=True)
class Timing:
    """When a subscriber wants their digest, as the profile says it; None where it says
    nothing, so DIGEST_TIMEZONE and DIGEST_SEND_TIME apply as they are at each run."""

    timezone: str | None = None
    send_time: time | None = None
    frequency: Frequency = Frequency.DAILY
    # 0 for Monday, as `date.weekday()`; a weekly digest's day, None for a daily one.
    weekday: int | None = None


_TIMING_FIELDS = ("timezone", "send_time", "frequency", "weekday")


@dataclass(frozen=True)
class Profile:
    """What one subscriber wants, as the profile file says it."""

    email: str
    name: str = ""
    keywords: dict[str, float] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    max_papers: int = DEFAULT_MAX_PAPERS
    min_score: float = 0.0
    seeds: list[dict[str, str]] = field(default_factory=list)
    timing: Timing = Timing()
    # A reference library export, relative paths taken from the profile file's folder.
    library: Path | None = None


@dataclass(frozen=True)
class SyncReport:
    """Which subscribers a sync added, updated, left alone and deactivated; the entries it
    could not read (`errors`), whose subscribers were left as stored; and the libraries it
    could not read (`library_errors`), whose subscribers keep the seeds last read."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]
    deactivated: list[str]
    errors: list[ProfileError] = field(default_factory=list)
    library_errors: list[LibraryError] = field(default_factory=list)

    def __str__(self) -> str:
        errors = f", {len(self.errors)} entries with errors" if self.errors else ""
        if self.library_errors:
            errors += f", {len(self.library_errors)} libraries unreadable"
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.deactivated)} deactivated{errors}"
        )


@dataclass(frozen=True)
class ProfileFile:
    """What a profile file says: its valid entries, the errors of the others, and the
    addresses those others name (their subscribers are neither updated nor deactivated).

    `complete` is false when an entry with an error names no address: who it was meant
    for is unknown, so nobody may be taken for removed from the file.
    """

    profiles: list[Profile]
    errors: list[ProfileError]
    unreadable: set[str]
    complete: bool = True


def load_profiles(path: Path) -> list[Profile]:
    """Read and validate the whole file; the first error names the file, entry and field."""
    read = read_profiles(path)
    if read.errors:
        raise read.errors[0]
    return read.profiles


def read_profiles(path: Path) -> ProfileFile:
    """Read the file, each entry on its own: one that is invalid is an error naming the
    file, the entry and the field, and the others are still read.

    A file that cannot be read, is not TOML or has no entries raises ProfileError.
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    extra = sorted(set(document) - {"subscriber"})
    if extra:
        raise ProfileError(f"{path}: unknown top-level key {extra[0]!r}; use [[subscriber]] tables")
    entries = document.get("subscriber", [])
    if not isinstance(entries, list) or not entries:
        raise ProfileError(f"{path}: no [[subscriber]] entries")
    profiles: list[Profile] = []
    errors: list[ProfileError] = []
    unreadable: set[str] = set()
    first_entry: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        try:
            profile = _profile(entry, f"{path}: subscriber #{number}", path.parent)
            if profile.email in first_entry:
                raise ProfileError(
                    f"{path}: subscriber #{number}: email: {profile.email} is already used by "
                    f"subscriber #{first_entry[profile.email]}"
                )
        except ProfileError as error:
            errors.append(error)
            email = entry.get("email") if isinstance(entry, dict) else None
            unreadable.add(email.strip().lower() if isinstance(email, str) else "")
            continue
        first_entry[profile.email] = number
        profiles.append(profile)
    return ProfileFile(profiles, errors, unreadable - {""}, complete="" not in unreadable)


def _profile(entry: Any, where: str, folder: Path) -> Profile:
    if not isinstance(entry, dict):
        raise ProfileError(f"{where}: must be a table")
    email = _email(entry["email"], where) if "email" in entry else None
    if email is not None:
        where = f"{where} ({email})"
    known = (*_FIELDS, *_TIMING_FIELDS)
    unknown = sorted(set(entry) - set(known))
    if unknown:
        raise ProfileError(f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(known)})")
    if email is None:
        raise ProfileError(f"{where}: email: missing")
    seeds = _seeds(entry.get("seeds", []), f"{where}: seeds")
    library = _library(entry.get("library"), f"{where}: library", folder)
    return Profile(
        email=email,
        name=_name(entry.get("name", ""), where),
        keywords=_keywords(entry.get("keywords"), where, required=not seeds and not library),
        seeds=seeds,
        library=library,
        exclude=_terms(entry.get("exclude", []), f"{where}: exclude"),
        max_papers=int(
            _number(
                entry.get("max_papers", DEFAULT_MAX_PAPERS),
                f"{where}: max_papers",
                1,
                100,
                whole=True,
            )
        ),
        min_score=float(_number(entry.get("min_score", 0.0), f"{where}: min_score", 0.0, 1.0)),
        timing=_timing(entry, where),
    )


def _timing(entry: dict[str, Any], where: str) -> Timing:
    """The optional timezone, send_time, frequency and weekday of an entry."""
    timezone = entry.get("timezone")
    if timezone is not None:
        try:
            if not isinstance(timezone, str):
                raise ValueError
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ProfileError(
                f"{where}: timezone: {timezone!r} is not an IANA time zone like 'Europe/Berlin'"
            ) from None
    frequency = entry.get("frequency", Frequency.DAILY.value)
    if frequency not in tuple(Frequency):
        choices = " or ".join(f'"{f.value}"' for f in Frequency)
        raise ProfileError(f"{where}: frequency: must be {choices}, not {frequency!r}")
    weekday = entry.get("weekday")
    if weekday is not None:
        if frequency != Frequency.WEEKLY:
            raise ProfileError(f'{where}: weekday: only for frequency = "weekly"')
        if not isinstance(weekday, str) or weekday.strip().lower() not in WEEKDAYS:
            raise ProfileError(
                f"{where}: weekday: must be a day's name, {', '.join(WEEKDAYS)}; not {weekday!r}"
            )
    return Timing(
        timezone=timezone,
        send_time=_send_time(entry.get("send_time"), f"{where}: send_time"),
        frequency=Frequency(frequency),
        weekday=(
            WEEKDAYS.index(weekday.strip().lower() if weekday else "monday")
            if frequency == Frequency.WEEKLY
            else None
        ),
    )


def _send_time(value: Any, where: str) -> time | None:
    """ "HH:MM" on the 24-hour clock (or a TOML local time on the minute)."""
    if value is None:
        return None
    if isinstance(value, time) and value.tzinfo is None and not (value.second or value.microsecond):
        return value
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ProfileError(
            f'{where}: must be a time of day as "HH:MM" (24-hour clock), not {value!r}'
        )
    return time(int(match[1]), int(match[2]))


def _email(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
        raise ProfileError(f"{where}: email: {value!r} is not an email address")
    address = value.strip().lower()
    local = address.rpartition("@")[0]
    if len(local) > MAX_LOCAL_PART or len(address) > MAX_ADDRESS:
        raise ProfileError(
            f"{where}: email: {len(address)} characters with {len(local)} before the @; an "
            f"address has at most {MAX_ADDRESS}, with at most {MAX_LOCAL_PART} before the @ "
            "(RFC 5321)"
        )
    return address


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ProfileError(f"{where}: name: must be a string")
    if _CONTROL.search(value):
        raise ProfileError(f"{where}: name: must not contain line breaks or control characters")
    name = value.strip()
    if len(name) > SUBSCRIBER_NAME:
        raise ProfileError(
            f"{where}: name: {len(name)} characters, at most {SUBSCRIBER_NAME} are kept"
        )
    return name


def _seeds(value: Any, where: str) -> list[dict[str, str]]:
    """Papers the subscriber liked: a stored paper's title, or a table with title and abstract."""
    if not isinstance(value, list):
        raise ProfileError(f"{where}: must be a list of titles or of {{ title, abstract }} tables")
    seeds: list[dict[str, str]] = []
    for number, item in enumerate(value, start=1):
        label = f"{where} #{number}"
        table = {"title": item} if isinstance(item, str) else item
        if not isinstance(table, dict):
            raise ProfileError(f"{label}: must be a title or a {{ title, abstract }} table")
        unknown = sorted(set(table) - set(_SEED_FIELDS))
        if unknown:
            raise ProfileError(f"{label}: unknown key {unknown[0]!r} (known keys: title, abstract)")
        seed = {}
        for key in _SEED_FIELDS:
            text = table.get(key)
            if text is None:
                continue
            if not isinstance(text, str) or not re.search(r"\w", text):
                raise ProfileError(f"{label}: {key}: must be text")
            seed[key] = " ".join(text.split())
        if "title" not in seed:
            raise ProfileError(f"{label}: title: missing")
        seeds.append(seed)
    return seeds


def _library(value: Any, where: str, folder: Path) -> Path | None:
    """The path of a reference library export, as the profile file's folder resolves it."""
    if value is None:
        return None
    kinds = ", ".join(SUFFIXES)
    if not isinstance(value, str) or not value.strip() or _CONTROL.search(value):
        raise ProfileError(f"{where}: must be the path of a library export ({kinds})")
    path = Path(value.strip()).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise ProfileError(
            f"{where}: {value!r} is not a BibTeX, RIS or CSL-JSON export (its name ends in {kinds})"
        )
    resolved = path if path.is_absolute() else folder / path
    if len(str(resolved)) > SUBSCRIBER_LIBRARY:
        raise ProfileError(f"{where}: a path of at most {SUBSCRIBER_LIBRARY} characters")
    return resolved


def _keywords(value: Any, where: str, *, required: bool = True) -> dict[str, float]:
    where = f"{where}: keywords"
    if value is None and not required:
        return {}
    if isinstance(value, list):
        weighted = {term: 1.0 for term in _terms(value, where)}
    elif isinstance(value, dict):
        weighted = {}
        for term, weight in value.items():
            label = f"{where}: {term!r}"
            weighted[_term(term, where)] = float(_number(weight, label, 0.0, 100.0, open_low=True))
    elif value is None:
        raise ProfileError(
            f"{where}: missing; give a list of terms or a table of term = weight (or seeds, "
            "or a library)"
        )
    else:
        raise ProfileError(f"{where}: must be a list of terms or a table of term = weight")
    if not weighted:
        raise ProfileError(f"{where}: empty; give at least one term")
    return weighted


def _terms(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise ProfileError(f"{where}: must be a list of strings")
    return list(dict.fromkeys(_term(term, where) for term in value))


def _term(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.search(r"\w", value) or _CONTROL.search(value):
        raise ProfileError(f"{where}: {value!r} is not a term (a word or phrase)")
    return " ".join(value.split())


def _number(
    value: Any, where: str, low: float, high: float, *, whole: bool = False, open_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
        raise ProfileError(f"{where}: must be {'a whole number' if whole else 'a number'}")
    # Python ints are exact at any size; only floats can be nan or infinite.
    if isinstance(value, float) and not math.isfinite(value):
        raise ProfileError(f"{where}: must be a finite number, not {value}")
    if value < low or value > high or (open_low and value == low):
        bound = "above" if open_low else "from"
        raise ProfileError(f"{where}: must be {bound} {low:g} to {high:g}, not {value}")
    return value


def sync_profiles(engine: Engine, path: Path) -> SyncReport:
    """Make the stored subscribers match the file: add, update, deactivate the rest.

    An entry with an error is reported in the result and its subscriber, if stored, is
    left as it was (neither updated nor deactivated); the other entries still sync. While
    an entry with an error names no address, nobody is deactivated.
    Deactivated subscribers keep their history and come back as they were if they return
    to the file. A file that cannot be read at all raises ProfileError and changes nothing.
    A library export is read again only when its content changed (see `_sync_libraries`).
    """
    read = read_profiles(path)
    profiles = read.profiles
    added, updated, unchanged, deactivated = [], [], [], []
    with unit_of_work(engine) as session:
        serialize(session, "sync profiles")
        stored = {s.email: s for s in session.scalars(select(Subscriber))}
        rows: dict[str, Subscriber] = {}
        for profile in profiles:
            values = {
                "name": profile.name,
                "keywords": profile.keywords,
                "exclude": profile.exclude,
                "max_papers": profile.max_papers,
                "min_score": profile.min_score,
                "seeds": profile.seeds,
                "active": True,
            }
            values.update(asdict(profile.timing))
            row = stored.get(profile.email)
            if row is None:
                row = Subscriber(email=profile.email, **values)
                session.add(row)
                added.append(profile.email)
            elif any(getattr(row, key) != value for key, value in values.items()):
                for key, value in values.items():
                    setattr(row, key, value)
                updated.append(profile.email)
            else:
                unchanged.append(profile.email)
            rows[profile.email] = row
        library_errors = _sync_libraries(profiles, rows, unchanged, updated)
        listed = {profile.email for profile in profiles} | read.unreadable
        for email, row in stored.items():
            if email not in listed and row.active and read.complete:
                row.active = False
                deactivated.append(email)
    return SyncReport(added, updated, unchanged, deactivated, read.errors, library_errors)


def _sync_libraries(
    profiles: Sequence[Profile],
    rows: Mapping[str, Subscriber],
    unchanged: list[str],
    updated: list[str],
) -> list[LibraryError]:
    """Store the seeds of each profile's library whose content changed since it was last
    read (by its SHA-256), moving its subscriber from `unchanged` to `updated`.

    An export that cannot be read is an error for its subscriber alone, who keeps the seeds
    last read from their library (none on a first read) and is read again at the next sync.
    Each distinct export is parsed once, whoever names it.
    """
    errors: list[LibraryError] = []
    parsed: dict[str, Library] = {}
    for profile in profiles:
        row = rows[profile.email]
        try:
            changed = _sync_library(row, profile.library, parsed)
        except LibraryError as error:
            kept = (
                "keeping the seeds last read from its library"
                if row.library_sha256
                else "no library seeds until it can be read"
            )
            errors.append(LibraryError(f"{profile.email}: {error}; {kept}"))
            continue
        if changed and profile.email in unchanged:
            unchanged.remove(profile.email)
            updated.append(profile.email)
    return errors


def _sync_library(row: Subscriber, path: Path | None, parsed: dict[str, Library]) -> bool:
    """Bring `row`'s library up to date with the export at `path`; whether anything changed.

    The seeds are a deferred column: they are only read or written when the export changed.
    """
    if path is None:
        if row.library is None and row.library_sha256 is None:
            return False
        row.library, row.library_sha256, row.library_seeds = None, None, []
        return True
    data = read_export(path)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 == row.library_sha256:
        if row.library == str(path):
            return False
        row.library = str(path)
        return True
    if sha256 not in parsed:
        parsed[sha256] = parse_export(data, path)
        log.info("%s: %s", path, parsed[sha256])
    row.library, row.library_sha256 = str(path), sha256
    row.library_seeds = parsed[sha256].seeds
    return True
