"""The cycle: sync profiles, ingest the inbox, plan, record, send; and the preview."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from threading import Event

from sqlalchemy import Engine, select

from digest.compose import Composer, Digest, make_composer
from digest.config import Settings
from digest.db import read_only
from digest.errors import DigestError, NotFoundError
from digest.fetch import FetchError, fetch_day, source_url
from digest.formats import SUFFIXES
from digest.models import Delivery
from digest.outbox.claims import count_due
from digest.outbox.history import stored_digest, with_contents
from digest.outbox.record import enqueue, enqueue_due
from digest.planning import find_subscriber, plan_digests, receiving
from digest.profiles import SyncReport, sync_profiles
from digest.rhythm import TIMED_COLUMNS, TimedRow, due_now, local_days, logical_day, rhythm_of
from digest.sending.processes import send_from_processes, sending_processes
from digest.sending.report import SendReport
from digest.sending.send import send_due
from digest.store import IngestReport, ingest, ingest_data
from digest.transports import Transport, make_transport

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one cycle did: for a logical day (`run --date`), or at an instant (`now`)."""

    digest_date: date
    now: datetime | None = None
    profiles: SyncReport | None = None
    ingest: IngestReport | None = None
    nothing_new: list[str] = field(default_factory=list)
    sending: SendReport = field(default_factory=SendReport)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when everything went out and every input was read."""
        s = self.sending
        ingest_errors = self.ingest.errors if self.ingest else []
        return not (s.failed or s.deferred or s.stopped or self.problems or ingest_errors)

    def as_json(self) -> dict[str, object]:
        """The report as plain data for scripts."""
        return {
            "date": self.digest_date.isoformat(),
            "now": self.now.isoformat() if self.now else None,
            "ingest": self.ingest.as_json() if self.ingest else None,
            **self.sending.as_json(),
            "nothing_new": self.nothing_new,
            "problems": self.problems,
        }


@dataclass
class ProfilesSeen:
    """What `serve` remembers of the profile file between its checks: which file, the
    SHA-256 of the content last synced, and the problems that sync reported.

    A content hash, not mtime and size: the file is small, so hashing it is cheap next to
    the sync it saves, and it cannot miss an edit that keeps the size within the clock's
    granularity (an edit missed would never take effect); a file touched or checked out
    again with the same content is not synced for nothing.
    """

    path: Path | None = None
    sha256: str | None = None
    problems: list[str] = field(default_factory=list)


def today(settings: Settings) -> date:
    """The logical day now, in the configured time zone."""
    return datetime.now(settings.timezone).date()


def reader_day(engine: Engine, settings: Settings, email: str, now: datetime | None = None) -> date:
    """The day naming `email`'s digest at `now` (default: now) in their own zone: today there
    for a daily reader, their latest weekday for a weekly one; what `preview` and `rank`
    show without a date. Raises NotFoundError for an unknown address."""
    with read_only(engine) as session:
        subscriber = find_subscriber(session, email)
        return rhythm_of(subscriber, settings).latest_day(now or datetime.now(UTC))


def digest_for(engine: Engine, settings: Settings, email: str, digest_date: date) -> Digest | None:
    """What `run` would send `email` on `digest_date`: the recorded digest, else a fresh plan.

    Writes nothing. None when the subscriber has nothing new that day.
    """
    with read_only(engine) as session:
        subscriber = find_subscriber(session, email)
        delivery = session.scalar(
            with_contents().where(
                Delivery.subscriber_id == subscriber.id, Delivery.digest_date == digest_date
            )
        )
        if delivery is not None:
            return stored_digest(delivery)
        planned = plan_digests(session, settings, digest_date, [subscriber])
        return planned[0].digest if planned else None


def run_daily(
    engine: Engine,
    settings: Settings,
    digest_date: date,
    transport: Transport,
    inputs: Sequence[Path] | None = None,
    *,
    send: bool = True,
    parallel: bool = False,
    progress: Callable[[int], object] | None = None,
    due: Callable[[int], object] | None = None,
) -> RunReport:
    """One cycle for the logical day `digest_date`, whatever the hour: the digest of that
    day of every reader who has one (every daily reader, the weekly readers whose weekday
    it is), from the papers stored of that day and before. For scripts and replays.

    With `send` false the cycle stops once the day's digests are recorded in the outbox,
    and `digest worker` processes send them. With `parallel`, a large day is sent from
    several processes (DIGEST_SENDERS, see digest.sending.processes), which make their transports
    from `settings`: `transport` must then be `make_transport(settings)`'s. `due` is told
    how many digests are due once the day's are recorded, `progress` of every one tried.

    The day's papers come from `inputs` when given (a replay), else from the inbox and,
    when DIGEST_SOURCE_URL is set, the HTTP source. A broken profile file, page or source
    is reported and the rest goes on with what is stored; mail that cannot be sent now
    stays in the outbox for the next run.
    """
    report = RunReport(digest_date)
    composer = make_composer(settings) if send else None
    report.profiles = _sync(engine, settings, report)
    report.ingest = _ingest(engine, settings, digest_date, inputs, report)
    report.nothing_new = enqueue(engine, settings, digest_date)
    if composer is not None:
        _send(engine, settings, transport, composer, digest_date, report, parallel, progress, due)
    return report


def run_due(
    engine: Engine,
    settings: Settings,
    now: datetime,
    transport: Transport,
    *,
    send: bool = True,
    parallel: bool = False,
    progress: Callable[[int], object] | None = None,
    due: Callable[[int], object] | None = None,
    seen: ProfilesSeen | None = None,
) -> RunReport:
    """One cycle as if the clock read `now`: the digest of every reader due then (see
    digest.rhythm), each of their own local day, from the papers stored by then.

    Pages are ingested only when someone is due, as of the logical day at `now` in
    DIGEST_TIMEZONE and at the instant `now`: `serve` calls this every few minutes, and
    the source is not asked for a page nobody waits for. With `seen` (serve's memory of
    the cycles before), the profile file is synced only when its content changed since;
    otherwise the problems its last sync found are reported again. The rest is as in
    `run_daily`.
    """
    report = RunReport(logical_day(settings, now), now)
    composer = make_composer(settings) if send else None
    report.profiles = _sync_changed(engine, settings, report, seen)
    if anyone_due(engine, settings, now):
        report.ingest = _ingest(engine, settings, report.digest_date, None, report, now)
        report.nothing_new = enqueue_due(engine, settings, now)
    if composer is not None:
        # A digest of any day that has begun somewhere: the readers' days differ.
        up_to = local_days(now)[-1]
        _send(engine, settings, transport, composer, up_to, report, parallel, progress, due)
    return report


def anyone_due(engine: Engine, settings: Settings, now: datetime) -> bool:
    """Whether any receiving subscriber's digest is due at `now` and not recorded yet."""
    with read_only(engine) as session:
        rows = session.execute(select(*TIMED_COLUMNS).where(*receiving()))
        waiting = [TimedRow(*row) for row in rows]
        return bool(due_now(session, settings, waiting, now))


def _send(
    engine: Engine,
    settings: Settings,
    transport: Transport,
    composer: Composer,
    up_to: date,
    report: RunReport,
    parallel: bool,
    progress: Callable[[int], object] | None,
    due: Callable[[int], object] | None,
) -> None:
    """Send the outbox's due digests of `up_to` and before into `report`."""
    waiting = count_due(engine, up_to)
    if due is not None:
        due(waiting)
    processes = sending_processes(settings, waiting) if parallel else 1
    sending = send_from_processes(engine, settings, transport, composer, up_to, processes, progress)
    report.sending = sending.report
    report.problems += sending.problems


def work(engine: Engine, settings: Settings, *, once: bool, stop: Event) -> SendReport:
    """A sender: send whatever is due, from any day, until `stop` (or, `once`, until none is).

    Any number of workers, on any machines, may share one database (PostgreSQL): each
    claims its own batches. Between rounds a worker waits DIGEST_WORKER_POLL seconds.
    """
    composer = make_composer(settings)
    total = SendReport()
    while not stop.is_set():
        transport = make_transport(settings)
        round_ = send_due(
            engine, settings, transport, composer, None, settings.batch_size, stop, backoff=True
        )
        total.add(round_)
        if once:
            break
        stop.wait(settings.worker_poll)
    return total


def _sync_changed(
    engine: Engine, settings: Settings, report: RunReport, seen: ProfilesSeen | None
) -> SyncReport | None:
    """`_sync`, skipped when `seen` says the profile file's content was synced already."""
    path = settings.profiles
    if seen is None or path is None:
        return _sync(engine, settings, report)
    try:
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        # Missing or unreadable: `_sync` says so, at every check as before.
        seen.sha256 = None
        return _sync(engine, settings, report)
    if (seen.path, seen.sha256) == (path, sha256):
        for problem in seen.problems:
            report.problems.append(problem)
            log.error("%s (profiles unchanged since)", problem)
        return None
    before = len(report.problems)
    synced = _sync(engine, settings, report)
    # Hashed before the sync read the file: an edit in between is synced again next time.
    seen.path, seen.sha256, seen.problems = path, sha256, report.problems[before:]
    return synced


def _sync(engine: Engine, settings: Settings, report: RunReport) -> SyncReport | None:
    if settings.profiles is None:
        return None
    if not settings.profiles.exists():
        log.warning("no profile file %s: using the stored subscribers", settings.profiles)
        return None
    try:
        synced = sync_profiles(engine, settings.profiles)
    except DigestError as error:
        report.problems.append(str(error))
        log.error("profiles not synced, using the stored ones: %s", error)
        return None
    for entry_error in synced.errors:
        report.problems.append(str(entry_error))
        log.error("%s; that subscriber is left as stored", entry_error)
    for library_error in synced.library_errors:
        report.problems.append(str(library_error))
        log.error("%s", library_error)
    return synced


def _ingest(
    engine: Engine,
    settings: Settings,
    digest_date: date,
    inputs: Sequence[Path] | None,
    report: RunReport,
    now: datetime | None = None,
) -> IngestReport:
    if inputs is not None:
        return ingest(engine, inputs, digest_date, settings.max_page_bytes, now)
    if settings.inbox.is_dir():
        ingested = ingest(engine, [settings.inbox], digest_date, settings.max_page_bytes, now)
    else:
        log.warning("inbox %s is not a folder: no pages ingested", settings.inbox)
        ingested = IngestReport()
    if settings.source_url:
        url = source_url(settings.source_url, digest_date)
        try:
            body = fetch_day(settings, digest_date)
        except FetchError as error:
            report.problems.append(str(error))
            log.error("%s", error)
        else:
            if body is not None:
                ingest_data(engine, body, url, digest_date, ingested, now)
    return ingested


def replay(
    engine: Engine,
    settings: Settings,
    folder: Path,
    first: date,
    last: date,
    transport: Transport,
) -> Iterator[RunReport]:
    """Run the daily cycle for each day from `first` to `last`, in order.

    Each day ingests the files in `folder` whose names start with that date
    (`2025-03-17.json`, `2025-03-17-papers.txt`, ...), so what is new is decided by the
    logical dates, not by when subscribers were added or the replay runs.
    """
    if not folder.is_dir():
        raise NotFoundError(f"{folder}: no such folder")
    if last < first:
        raise DigestError(f"--to {last} is before --from {first}")
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        files = sorted(
            p
            for p in folder.iterdir()
            if p.name.startswith(day.isoformat()) and p.suffix.lower() in SUFFIXES
        )
        yield run_daily(engine, settings, day, transport, inputs=files)
