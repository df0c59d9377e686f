"""`digest serve`: the daily cycle at DIGEST_SEND_TIME, run by APScheduler 3."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from digest.compose import make_composer
from digest.config import Settings, load_settings
from digest.db import ensure_schema, make_engine
from digest.jobs import run_daily, today
from digest.transports import make_transport

log = logging.getLogger(__name__)

JOB_ID = "daily-digest"
# A run missed while the machine was off or asleep still happens, once, at the next start
# within this many seconds of its time; a later start waits for the next day instead.
MISFIRE_GRACE_SECONDS = 12 * 3600


def scheduled_run(send: bool = True) -> None:
    """The job APScheduler runs: one daily cycle for today, with the settings of now."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        ensure_schema(engine)
        transport = make_transport(settings)
        report = run_daily(engine, settings, today(settings), transport, send=send, parallel=True)
    finally:
        engine.dispose()
    sending = report.sending
    log.info(
        "daily run %s: %d sent, %d deferred, %d failed, %d with nothing new",
        report.digest_date,
        len(sending.sent),
        len(sending.deferred),
        len(sending.failed),
        len(report.nothing_new),
    )


def daily_trigger(settings: Settings) -> CronTrigger:
    """Every day at DIGEST_SEND_TIME in DIGEST_TIMEZONE."""
    return CronTrigger(
        hour=settings.send_time.hour, minute=settings.send_time.minute, timezone=settings.timezone
    )


def build_scheduler(settings: Settings, *, send: bool = True) -> BlockingScheduler:
    """A scheduler with its jobs persisted in the digest database, the daily job ensured.

    The scheduler starts paused; once its job store is loaded the job is added only if it
    is missing (re-adding it would throw away a missed run) or rescheduled if the send time
    changed, and then it resumes, so a missed run happens once at start.
    """
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=settings.database_url)},
        timezone=settings.timezone,
    )
    trigger = daily_trigger(settings)

    def ensure_job(_event: SchedulerEvent) -> None:
        job = scheduler.get_job(JOB_ID)
        if job is None:
            scheduler.add_job(
                scheduled_run,
                trigger,
                kwargs={"send": send},
                id=JOB_ID,
                name="daily digest",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=MISFIRE_GRACE_SECONDS,
            )
        else:
            if str(job.trigger) != str(trigger):
                scheduler.reschedule_job(JOB_ID, trigger=trigger)
            if job.kwargs != {"send": send}:
                scheduler.modify_job(JOB_ID, kwargs={"send": send})
        next_run = scheduler.get_job(JOB_ID).next_run_time
        log.info("serving: next daily digest at %s", next_run)
        scheduler.resume()

    scheduler.add_listener(ensure_job, EVENT_SCHEDULER_STARTED)
    return scheduler


def serve(settings: Settings, *, send: bool = True) -> None:
    """Run the schedule until Ctrl-C or SIGTERM; a cycle under way is finished first.

    Without `send` each day's digests are only recorded, for `digest worker` to send.
    What a run would refuse (SMTP without DIGEST_SECRET, the templates) raises here,
    before the scheduler starts, not on the first day.
    """
    make_composer(settings, sending=send)
    make_transport(settings)
    scheduler = build_scheduler(settings, send=send)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start(paused=True)
