"""The `digest` command line: thin click commands over the library."""

from __future__ import annotations

import json
import logging
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from threading import Event
from types import FrameType
from typing import Any

import click
from dotenv import load_dotenv
from sqlalchemy import Engine, select
from tqdm import tqdm

from digest import __version__
from digest.compose import make_composer
from digest.config import Settings, load_settings
from digest.db import ensure_schema, make_engine, read_only, unit_of_work, upgrade
from digest.errors import DigestError
from digest.feedback import list_votes
from digest.jobs import digest_for, reader_day, run_daily, run_due, today, work
from digest.jobs import replay as replay_days
from digest.models import DeliveryStatus, Frequency, Subscriber
from digest.outbox.history import retry as retry_deliveries
from digest.outbox.history import status as outbox_status
from digest.planning import find_subscriber, plan_digests
from digest.profiles import sync_profiles
from digest.rhythm import WEEKDAYS, Rhythm, next_digests, rhythm_of
from digest.schedule import serve as serve_forever
from digest.store import ingest as ingest_paths
from digest.transports import FileTransport, make_transport
from digest.unsubscribe import resubscribe
from digest.unsubscribe import unsubscribe as apply_unsubscribe
from digest.web import serve as serve_web

log = logging.getLogger("digest")


class Context:
    """What every command needs: the settings, and an engine on a current schema."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The database, migrated first if it is an embedded SQLite file."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
            ensure_schema(self._engine)
        return self._engine

    def day(self, value: datetime | None) -> date:
        """The logical day a command works on: `--date`, else today in DIGEST_TIMEZONE."""
        return value.date() if value else today(self.settings)


class DigestGroup(click.Group):
    """The command group: a DigestError from any command is one line and exit code 1.

    The traceback is logged only with --verbose; anything else is a bug, and click (or
    Python) shows it whole.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigestError as error:
            # The root logger, not digest's: `serve` and `worker` raise digest's to INFO.
            if logging.getLogger().isEnabledFor(logging.INFO):
                log.exception("error")
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)


DATE = click.DateTime(formats=["%Y-%m-%d"])
# A run into the file outbox lists where its emails are, up to this many of them.
LISTED_FILES = 20
date_option = click.option(
    "--date", "day", type=DATE, help="Logical day (YYYY-MM-DD); default today in DIGEST_TIMEZONE."
)
# A reader's digest is named by their own day, which DIGEST_TIMEZONE's may not be.
reader_date_option = click.option(
    "--date",
    "day",
    type=DATE,
    help="Logical day (YYYY-MM-DD); default the reader's own: today in their time zone, "
    "their latest weekday if they read weekly.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="End with one JSON object.")


class Instant(click.ParamType[datetime, Any]):
    """An instant in ISO 8601 with its offset: 2026-03-20T07:00+01:00 or 2026-03-20T06:00Z."""

    name = "instant"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO 8601 date and time, like 2026-03-20T07:00Z", param, ctx
            )
        if moment.tzinfo is None:
            self.fail(f"{value!r} has no offset: end it with Z or one like +01:00", param, ctx)
        return moment.astimezone(UTC)


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=".env",
    show_default=True,
    help="Settings file; variables already in the environment win.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, with tracebacks.")
@click.version_option(__version__)
@click.pass_context
def main(ctx: click.Context, env_file: Path, verbose: bool) -> None:
    """Personalized research-paper digests by email."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(levelname)s: %(message)s",
        force=True,
    )
    if env_file.is_file():
        load_dotenv(env_file, override=False)
    ctx.obj = Context(load_settings())


@main.command()
@click.argument("paths", nargs=-1, required=True)
@date_option
@json_option
@click.pass_obj
def ingest(obj: Context, paths: tuple[str, ...], day: datetime | None, as_json: bool) -> None:
    """Ingest digest pages: files, folders of pages, or '-' for standard input."""
    report = ingest_paths(obj.engine, paths, obj.day(day), obj.settings.max_page_bytes)
    click.echo(str(report))
    if as_json:
        click.echo(json.dumps(report.as_json()))
    if report.errors:
        sys.exit(1)


@main.group()
def subscribers() -> None:
    """Manage subscribers from their profile file."""


@subscribers.command("sync")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.pass_obj
def subscribers_sync(obj: Context, file: Path | None) -> None:
    """Add, update and deactivate subscribers to match FILE (default DIGEST_PROFILES)."""
    path = file or obj.settings.profiles
    if path is None:
        raise click.UsageError("give a profile file or set DIGEST_PROFILES")
    report = sync_profiles(obj.engine, path)
    for error in [*report.errors, *report.library_errors]:
        click.echo(f"error: {error}", err=True)
    click.echo(f"{path}: {report}")
    if report.errors or report.library_errors:
        sys.exit(1)


@subscribers.command("list")
@click.option(
    "--now", type=Instant(), help="Next digests as of this instant (ISO 8601, offset or Z)."
)
@json_option
@click.pass_obj
def subscribers_list(obj: Context, now: datetime | None, as_json: bool) -> None:
    """List the stored subscribers, their keywords, and when each gets their next digest."""
    moment = now or datetime.now(UTC)
    with read_only(obj.engine) as session:
        rows = session.scalars(select(Subscriber).order_by(Subscriber.email)).all()
        upcoming = next_digests(session, obj.settings, [s for s in rows if not _states(s)], moment)
        listing = [
            {
                "email": s.email,
                "name": s.name,
                "active": s.active,
                "unsubscribed": s.unsubscribed_at is not None,
                "suspended": s.suspended_at is not None,
                "keywords": s.keywords,
                "exclude": s.exclude,
                "max_papers": s.max_papers,
                **_schedule(rhythm_of(s, obj.settings), upcoming.get(s.id), moment),
            }
            for s in rows
        ]
        lines = [
            f"{s.email}{_states(s)}: {', '.join(s.keywords)}\n"
            f"    {rhythm_of(s, obj.settings).describe()}; {_when(upcoming.get(s.id), moment)}"
            for s in rows
        ]
    for line in lines:
        click.echo(line)
    if as_json:
        click.echo(json.dumps(listing))


def _schedule(rhythm: Rhythm, next_due: datetime | None, now: datetime) -> dict[str, object]:
    """A subscriber's rhythm and next digest, as plain data: both instants with offsets."""
    return {
        "schedule": rhythm.describe(),
        "timezone": rhythm.zone.key,
        "send_time": f"{rhythm.send_time:%H:%M}",
        "frequency": rhythm.frequency.value,
        "weekday": WEEKDAYS[rhythm.weekday] if rhythm.frequency is Frequency.WEEKLY else None,
        "next_due": next_due.isoformat() if next_due else None,
        "next_due_utc": next_due.astimezone(UTC).isoformat() if next_due else None,
        "due_now": next_due is not None and next_due <= now,
    }


def _when(next_due: datetime | None, now: datetime) -> str:
    """The next digest for people: "next 2026-03-21 07:00 CET (2026-03-21 06:00 UTC)"."""
    if next_due is None:
        return "no digests"
    when = f"{next_due:%Y-%m-%d %H:%M %Z} ({next_due.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    return f"due now, since {when}" if next_due <= now else f"next {when}"


def _states(subscriber: Subscriber) -> str:
    """Why a subscriber gets no mail, if anything keeps them from it: " (inactive, ...)"."""
    states = [
        label
        for label, on in (
            ("inactive", not subscriber.active),
            ("unsubscribed", subscriber.unsubscribed_at is not None),
            ("suspended", subscriber.suspended_at is not None),
        )
        if on
    ]
    return f" ({', '.join(states)})" if states else ""


@subscribers.command("resubscribe")
@click.argument("email")
@click.pass_obj
def subscribers_resubscribe(obj: Context, email: str) -> None:
    """Lift EMAIL's unsubscription (at their request): digests resume at the next run."""
    with unit_of_work(obj.engine) as session:
        subscription = resubscribe(session, email)
    click.echo(
        f"{subscription.email} resubscribed"
        if subscription.changed
        else f"{subscription.email} was not unsubscribed"
    )
    if not subscription.active:
        click.echo(
            f"note: {subscription.email} is not in the profile file, so gets no digests "
            "until it is listed there again",
            err=True,
        )


@main.group()
def feedback() -> None:
    """The readers' votes on papers ("More like this", "Less like this")."""


@feedback.command("list")
@click.argument("email", required=False)
@json_option
@click.pass_obj
def feedback_list(obj: Context, email: str | None, as_json: bool) -> None:
    """List the votes (of EMAIL, or everyone's), oldest first; the last vote on a paper stands."""
    with unit_of_work(obj.engine) as session:
        votes = list_votes(session, email)
    for vote in votes:
        paper = f"{vote.title} (arXiv {vote.arxiv_id})" if vote.arxiv_id else vote.title
        click.echo(f"{vote.at:%Y-%m-%d %H:%M}  {vote.vote:<4}  {vote.email}  {paper}")
    if not votes:
        click.echo("no votes yet")
    if as_json:
        click.echo(json.dumps([vote.as_json() for vote in votes]))


@main.command()
@click.argument("email")
@reader_date_option
@json_option
@click.pass_obj
def rank(obj: Context, email: str, day: datetime | None, as_json: bool) -> None:
    """Show the papers EMAIL would get, best first, with scores and matched terms."""
    digest_date = day.date() if day else reader_day(obj.engine, obj.settings, email)
    with read_only(obj.engine) as session:
        subscriber = find_subscriber(session, email)
        planned = plan_digests(session, obj.settings, digest_date, [subscriber])
    entries = planned[0].digest.entries if planned else []
    picks = planned[0].picks if planned else []
    for number, entry in enumerate(entries, start=1):
        click.echo(f"{number:>3}. {entry.score:.3f}  {entry.title}")
        click.echo(f"     matched: {', '.join(entry.matched)}")
    if not entries:
        click.echo(f"nothing new for {email} on {digest_date}")
    if as_json:
        rows = [
            {"paper_id": p.paper_id, "title": e.title, "score": p.score, "matched": p.matched}
            for p, e in zip(picks, entries, strict=True)
        ]
        click.echo(json.dumps({"email": email, "date": digest_date.isoformat(), "picks": rows}))


@main.command()
@click.argument("email")
@reader_date_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option("--text", is_flag=True, help="The plain-text part instead of the HTML.")
@click.pass_obj
def preview(obj: Context, email: str, day: datetime | None, out: Path | None, text: bool) -> None:
    """Render the digest EMAIL would get, without sending or recording anything."""
    digest_date = day.date() if day else reader_day(obj.engine, obj.settings, email)
    digest = digest_for(obj.engine, obj.settings, email, digest_date)
    if digest is None:
        click.echo(f"nothing new for {email} on {digest_date}: no email would be sent", err=True)
        sys.exit(1)
    plain, html = make_composer(obj.settings, sending=False).render(digest)
    body = plain if text else html
    if out is None:
        click.echo(body, nl=False)
        return
    out.write_text(body, encoding="utf-8")
    click.echo(f"{digest.subject} -> {out}")


no_send_option = click.option(
    "--no-send", is_flag=True, help="Only record the digests; 'digest worker' sends them."
)


@main.command()
@click.option(
    "--date",
    "day",
    type=DATE,
    help="Everyone's digest of this logical day (YYYY-MM-DD), whatever the hour.",
)
@click.option(
    "--now",
    type=Instant(),
    help="Act as if the clock read this instant (ISO 8601 with an offset or Z).",
)
@no_send_option
@json_option
@click.pass_obj
def run(
    obj: Context, day: datetime | None, now: datetime | None, no_send: bool, as_json: bool
) -> None:
    """One cycle: sync profiles, ingest the inbox, rank, compose, send to whoever is due.

    A reader is due once their send time has passed on their own day (on their weekday,
    if weekly) and that day's digest is not sent yet. --date D sends everyone their digest
    of D instead, whatever the hour: for scripts and replays.
    """
    if day is not None and now is not None:
        raise click.UsageError("give --date or --now, not both")
    settings = obj.settings
    transport = make_transport(settings)
    with tqdm(unit="digest", desc="ranking", disable=not sys.stderr.isatty()) as bar:

        def started_sending(due: int) -> None:
            bar.set_description("sending")
            bar.reset(total=due)

        options: dict[str, Any] = {
            "send": not no_send,
            "parallel": True,
            "progress": bar.update,
            "due": started_sending,
        }
        if day is not None:
            report = run_daily(obj.engine, settings, day.date(), transport, **options)
        else:
            moment = now or datetime.now(UTC)
            report = run_due(obj.engine, settings, moment, transport, **options)
    if report.ingest:
        click.echo(f"{settings.inbox}: {report.ingest}")
    sending = report.sending
    when = f"{report.now:%Y-%m-%d %H:%M} UTC" if report.now else f"{report.digest_date}"
    click.echo(
        f"{when}: {len(sending.sent)} digest(s) sent, {len(sending.deferred)} "
        f"deferred, {len(sending.failed)} failed, {len(report.nothing_new)} subscriber(s) "
        "with nothing new"
    )
    if report.now is not None and report.ingest is None:  # run_due ingests for someone due
        click.echo("nobody is due now; 'digest subscribers list' shows when each reader is")
    if sending.stopped:
        click.echo(f"sending stopped, {sending.left} digest(s) left for the next run", err=True)
    if isinstance(transport, FileTransport) and sending.sent:
        # Other sending processes wrote some of them: this process lists its own.
        click.echo(f"emails written to {transport.folder}/ (open them with any mail program):")
        listed = transport.written[:LISTED_FILES]
        for path in listed:
            click.echo(f"  {path}")
        if len(sending.sent) > len(listed):
            click.echo(f"  ... and {len(sending.sent) - len(listed)} more")
    if as_json:
        click.echo(json.dumps(report.as_json()))
    if not report.ok:
        sys.exit(1)


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--from", "first", type=DATE, required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "last", type=DATE, required=True, help="Last day (YYYY-MM-DD).")
@json_option
@click.pass_obj
def replay(obj: Context, folder: Path, first: datetime, last: datetime, as_json: bool) -> None:
    """Run the daily cycle for each day in turn, on FOLDER's files named by date.

    For trying digest on real history (saved API answers named 2025-03-17.json, ...) and
    for catching up: each day ingests its own files, then ranks and sends as `run` does.
    """
    settings = obj.settings
    transport = make_transport(settings)
    days = (last.date() - first.date()).days + 1
    reports = replay_days(obj.engine, settings, folder, first.date(), last.date(), transport)
    summary = {"days": 0, "papers_new": 0, "emails": 0, "papers_sent": 0, "problems": 0}
    for report in tqdm(reports, total=max(days, 0), unit="day", disable=not sys.stderr.isatty()):
        summary["days"] += 1
        summary["papers_new"] += report.ingest.papers_new if report.ingest else 0
        summary["emails"] += len(report.sending.sent)
        summary["papers_sent"] += report.sending.papers
        summary["problems"] += not report.ok
    per_email = summary["papers_sent"] / summary["emails"] if summary["emails"] else 0.0
    click.echo(
        f"{summary['days']} day(s), {summary['papers_new']} new paper(s), "
        f"{summary['emails']} email(s), {per_email:.1f} paper(s) per email, "
        f"{summary['problems']} day(s) with problems"
    )
    if as_json:
        click.echo(json.dumps({**summary, "papers_per_email": round(per_email, 2)}))
    if summary["problems"]:
        sys.exit(1)


@main.command()
@date_option
@json_option
@click.pass_obj
def status(obj: Context, day: datetime | None, as_json: bool) -> None:
    """What was sent, deferred and failed (with reasons), and who is suspended."""
    report = outbox_status(obj.engine, day.date() if day else None)
    for item in report.deliveries:
        line = f"{item['date']}  {item['status']:<8}  {item['email']}  ({item['papers']} papers"
        line += f", {item['attempts']} attempt(s))"
        if item["error"] and item["status"] != DeliveryStatus.SENT:
            line += f"\n            {item['error']}"
        click.echo(line)
    for email in report.suspended:
        click.echo(f"suspended: {email} ('digest retry --failed' resumes)")
    click.echo(", ".join(f"{count} {state}" for state, count in report.counts.items()))
    if as_json:
        click.echo(json.dumps(report.as_json()))


@main.command()
@click.option("--failed", is_flag=True, help="Also failed deliveries (and lift suspensions).")
@date_option
@click.pass_obj
def retry(obj: Context, failed: bool, day: datetime | None) -> None:
    """Make deferred (and with --failed, failed) deliveries due for the next run."""
    count = retry_deliveries(obj.engine, failed=failed, digest_date=day.date() if day else None)
    click.echo(f"{count} deliveries due again; 'digest run' sends them")


@main.command()
@click.argument("token")
@click.pass_obj
def unsubscribe(obj: Context, token: str) -> None:
    """Apply an unsubscribe TOKEN from a digest's link (for a mailbox or web handler)."""
    secret, previous = obj.settings.checking_secrets
    email, new = apply_unsubscribe(obj.engine, secret, token, previous)
    click.echo(f"{email} unsubscribed" if new else f"{email} was already unsubscribed")


@main.command()
@no_send_option
@click.pass_obj
def serve(obj: Context, no_send: bool) -> None:
    """Serve every reader at their own hour: whoever is due, every few minutes, until stopped."""
    # A service's log is its only record: say what it does without needing --verbose.
    logging.getLogger("digest").setLevel(logging.INFO)
    obj.engine  # noqa: B018 - the schema must be current before the job store opens
    serve_forever(obj.settings, send=not no_send)


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; an HTTPS reverse proxy in front serves DIGEST_BASE_URL.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.pass_obj
def web(obj: Context, host: str, port: int) -> None:
    """Serve the pages the emails link to: one-click unsubscribe, resubscribe, feedback."""
    base_url = obj.settings.base_url

    def ready(address: str) -> None:
        # A service's log is its only record: from now on, say what it does.
        logging.getLogger("digest").setLevel(logging.INFO)
        click.echo(f"serving on {address} (Ctrl-C stops)")
        if base_url is None:
            log.warning("DIGEST_BASE_URL is not set: the emails do not link to this server")
        else:
            click.echo(f"the emails link to {base_url}/")

    serve_web(obj.settings, host, port, ready)


@main.command()
@click.option("--once", is_flag=True, help="Send what is due, then exit (for cron and tests).")
@json_option
@click.pass_obj
def worker(obj: Context, once: bool, as_json: bool) -> None:
    """Send the outbox's due digests; any number of workers may share one database."""
    logging.getLogger("digest").setLevel(logging.INFO)
    stop = Event()

    def stop_on(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on %s after the message under way", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)
    report = work(obj.engine, obj.settings, once=once, stop=stop)
    click.echo(
        f"{len(report.sent)} sent, {len(report.deferred)} deferred, {len(report.failed)} failed"
    )
    if as_json:
        click.echo(json.dumps(report.as_json()))
    if report.failed or report.deferred or report.stopped:
        sys.exit(1)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: Context) -> None:
    """Migrate the database to the newest schema."""
    engine = make_engine(obj.settings.database_url)
    upgrade(engine)
    click.echo(f"database at the newest schema: {engine.url.render_as_string()}")
