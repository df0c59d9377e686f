"""The daily cycle: sync profiles, ingest the inbox, plan, record, send; and the preview."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from threading import Event

from sqlalchemy import Engine

from digest.compose import Digest, make_composer
from digest.config import Settings
from digest.db import read_only
from digest.errors import DigestError, NotFoundError
from digest.fetch import FetchError, fetch_day, source_url
from digest.formats import SUFFIXES
from digest.models import Delivery
from digest.outbox.claims import count_due
from digest.outbox.history import stored_digest, with_contents
from digest.outbox.record import enqueue
from digest.planning import find_subscriber, plan_digests
from digest.profiles import SyncReport, sync_profiles
from digest.sending.processes import send_from_processes, sending_processes
from digest.sending.report import SendReport
from digest.sending.send import send_due
from digest.store import IngestReport, ingest, ingest_data
from digest.transports import Transport, make_transport

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one daily cycle did."""

    digest_date: date
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
            "ingest": self.ingest.as_json() if self.ingest else None,
            **self.sending.as_json(),
            "nothing_new": self.nothing_new,
            "problems": self.problems,
        }


def today(settings: Settings) -> date:
    """The logical day now, in the configured time zone."""
    return datetime.now(settings.timezone).date()


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
    """One daily cycle for the logical day `digest_date`.

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
    composer = make_composer(settings) if send else None
    report = RunReport(digest_date)
    report.profiles = _sync(engine, settings, report)
    report.ingest = _ingest(engine, settings, digest_date, inputs, report)
    report.nothing_new = enqueue(engine, settings, digest_date)
    if composer is None:
        return report
    waiting = count_due(engine, digest_date)
    if due is not None:
        due(waiting)
    processes = sending_processes(settings, waiting) if parallel else 1
    sending = send_from_processes(
        engine, settings, transport, composer, digest_date, processes, progress
    )
    report.sending = sending.report
    report.problems += sending.problems
    return report


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
    return synced


def _ingest(
    engine: Engine,
    settings: Settings,
    digest_date: date,
    inputs: Sequence[Path] | None,
    report: RunReport,
) -> IngestReport:
    if inputs is not None:
        return ingest(engine, inputs, digest_date, settings.max_page_bytes)
    if settings.inbox.is_dir():
        ingested = ingest(engine, [settings.inbox], digest_date, settings.max_page_bytes)
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
                ingest_data(engine, body, url, digest_date, ingested)
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
