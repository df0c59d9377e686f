"""`digest serve`: every few minutes, the cycle for whoever is due, run by APScheduler 3.

Each reader has their own zone and send time, so there is no one daily time to wake at:
the job looks every DIGEST_SERVE_EVERY minutes, on the clock's minutes, and serves whoever
is due then (digest.rhythm). Nothing is lost while the service is down, so the job lives
in memory: the first check at start sends the digests whose hour passed meanwhile. The
job also remembers the profile file it synced, and syncs it again only once it changed.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from digest.compose import make_composer
from digest.config import Settings, load_settings
from digest.db import ensure_schema, make_engine
from digest.jobs import ProfilesSeen, run_due
from digest.transports import make_transport

log = logging.getLogger(__name__)

JOB_ID = "digests-due"


def scheduled_run(send: bool = True, seen: ProfilesSeen | None = None) -> None:
    """The job APScheduler runs: one cycle for whoever is due now, with the settings of now,
    syncing the profile file only when it changed since `seen`."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        transport = make_transport(settings)
        report = run_due(
            engine, settings, datetime.now(UTC), transport, send=send, parallel=True, seen=seen
        )
    finally:
        engine.dispose()
    sending = report.sending
    if report.ingest is None and not (sending.sent or sending.deferred or sending.failed):
        return
    log.info(
        "run at %s: %d sent, %d deferred, %d failed, %d with nothing new",
        f"{report.now:%Y-%m-%d %H:%M} UTC",
        len(sending.sent),
        len(sending.deferred),
        len(sending.failed),
        len(report.nothing_new),
    )


def check_trigger(settings: Settings) -> CronTrigger:
    """Every DIGEST_SERVE_EVERY minutes of the clock (:00, :05, ... for 5), in UTC: a reader
    is served at most that long after their send time, whatever their zone and its DST."""
    return CronTrigger(minute=f"*/{settings.serve_every}", timezone=UTC)


def build_scheduler(
    settings: Settings, *, send: bool = True, scheduler: BaseScheduler | None = None
) -> BaseScheduler:
    """`scheduler` (a blocking one, if not given) with the job that serves due readers: at
    start, then on `check_trigger`. A check is skipped while the one before still runs."""
    scheduler = scheduler or BlockingScheduler(timezone=UTC)
    scheduler.add_job(
        scheduled_run,
        check_trigger(settings),
        kwargs={"send": send, "seen": ProfilesSeen()},
        id=JOB_ID,
        name="digests due",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


def serve(settings: Settings, *, send: bool = True) -> None:
    """Run the schedule until Ctrl-C or SIGTERM; a cycle under way is finished first.

    Without `send` the digests are only recorded, for `digest worker` to send. What a run
    would refuse (SMTP without DIGEST_SECRET, the templates) raises here, before the
    scheduler starts, not at the first digest.
    """
    make_composer(settings, sending=send)
    make_transport(settings)
    scheduler = build_scheduler(settings, send=send)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving: whoever is due, now and every %d minute(s)", settings.serve_every)
    scheduler.start()
