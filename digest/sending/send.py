"""Sending the due digests: one round of claiming, composing, dispatching and recording.

`send_due` is where a run, a worker and each sending process send: it claims batches of
due deliveries (digest.outbox.claims), loads them as digests (digest.sending.load),
composes each message (digest.compose), hands them to the dispatcher, which delivers them
over the transports (digest.sending.dispatch), and records each outcome in its own commit
(digest.outbox.results).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import date, datetime
from threading import Event

from sqlalchemy import Engine

from digest.compose import Composer, Digest
from digest.config import Settings
from digest.errors import TransportError
from digest.mime import Email
from digest.models import utcnow
from digest.outbox.claims import (
    claim_batch,
    claimer,
    count_due,
    recover_interrupted,
    release,
    release_after_error,
    renew,
)
from digest.outbox.results import Recorder, record_failure
from digest.sending.dispatch import Dispatcher, Outcome
from digest.sending.load import Claimed, Loader
from digest.sending.rate import rate_limiter
from digest.sending.report import SendReport
from digest.transports import Transport

log = logging.getLogger(__name__)

# A relay that reads whole messages and answers none of them is as good as down: after
# this many in a row the round stops, as it does for a relay that cannot be reached,
# instead of spending SMTP_TIMEOUT on every digest of the day.
UNANSWERED_IN_A_ROW = 3


def send_due(
    engine: Engine,
    settings: Settings,
    transport: Transport,
    composer: Composer,
    up_to: date | None = None,
    batch: int = 50,
    stop: Event | None = None,
    *,
    backoff: bool = False,
    progress: Callable[[int], object] | None = None,
) -> SendReport:
    """Send every due delivery of receiving subscribers (of days up to `up_to`, if given).

    Due: pending, or deferred (with `backoff`, as workers polling all day do, only once
    its backoff has passed; a run takes it at once). Deliveries are claimed in the database
    in batches (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of
    processes can send at once and none sends what another took; each message is recorded
    in its own commit. Messages go out over DIGEST_SMTP_CONNECTIONS connections at once
    (`transport.parallel`), at most DIGEST_SMTP_RATE a minute. Temporary failures are
    retried with exponential backoff, then deferred. When the relay itself cannot be used
    the round stops, the rest stays due; so does it when `stop` is set (between messages).
    `progress` is told of every delivery tried (a progress bar's `update`).
    """
    report = SendReport()
    recover_interrupted(engine, settings)
    me = claimer()
    started = utcnow() if backoff else None
    try:
        dispatcher = Dispatcher(
            transport.parallel(settings.smtp_connections),
            lambda: settings.retrying(TransportError, max_wait=300),
            rate_limiter(settings.smtp_rate),
        )
        with dispatcher:
            _Round(engine, settings, composer, dispatcher, me, report, progress).run(
                batch, up_to, started, stop
            )
    except BaseException:
        transport.close()
        release_after_error(engine, me)
        raise
    transport.close()
    release(engine, me)
    if report.stopped is not None:
        report.left = count_due(engine, up_to)
        log.error("stopped sending, %d digest(s) left due: %s", report.left, report.stopped)
    return report


class _Round:
    """One round of `send_due`: claims, loads and composes in this thread; the dispatcher
    delivers.

    Only this thread touches the database (SQLite has one writer at a time anyway); the
    dispatcher's threads only talk SMTP. Messages are composed just before they are queued,
    a few per connection ahead, so sending never waits for a whole batch to be composed.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        composer: Composer,
        dispatcher: Dispatcher,
        me: str,
        report: SendReport,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        self.engine, self.settings, self.composer = engine, settings, composer
        self.dispatcher, self.me, self.report = dispatcher, me, report
        self.progress = progress
        self.loader = Loader(engine, me)
        self.recorder = Recorder(engine)
        self.claimed: deque[Claimed] = deque()
        self.flying: dict[int, Claimed] = {}
        self.ahead = 2 * settings.smtp_connections
        # Claims older than DIGEST_CLAIM_TIMEOUT may be taken over: renew well before that.
        self.renew_every = settings.claim_timeout / 3
        self.renewed = time.monotonic()
        # Messages in a row that the relay did not answer once sent (see UNANSWERED_IN_A_ROW).
        self.unanswered = 0

    def run(
        self, batch: int, up_to: date | None, not_before: datetime | None, stop: Event | None
    ) -> None:
        """Send until nothing is due, the relay cannot be used, or `stop` is set."""
        try:
            self._send(batch, up_to, not_before, stop)
        finally:
            self.recorder.close()

    def _send(
        self, batch: int, up_to: date | None, not_before: datetime | None, stop: Event | None
    ) -> None:
        exhausted = False
        while True:
            if self.report.stopped is not None or (stop is not None and stop.is_set()):
                self.dispatcher.stop()
            if not self.dispatcher.stopped:
                if not self.claimed and not exhausted:
                    tried = {email for email, _ in self.report.deferred}
                    ids = claim_batch(self.engine, self.me, batch, up_to, not_before, tried)
                    exhausted = not ids
                    self.claimed.extend(self.loader.load(ids))
                self._feed()
            if not self.flying:
                if self.dispatcher.stopped or (exhausted and not self.claimed):
                    return
                continue
            # A short wait, so that `stop` and the lease are looked at while a relay is slow.
            outcome = self.dispatcher.outcome(timeout=1.0)
            if outcome is not None:
                try:
                    self._record(outcome)
                finally:
                    self.dispatcher.settle()
            self._renew_lease()

    def _feed(self) -> None:
        while self.claimed and self.dispatcher.waiting < self.ahead:
            item = self.claimed.popleft()
            try:
                message = _compose(self.composer, item.digest, self.settings)
            except TransportError as error:
                failure = record_failure(self.engine, item.delivery_id, error, 0, self.settings)
                self.report.add_failure(failure)
                continue
            self.flying[item.delivery_id] = item
            self.dispatcher.submit(item.delivery_id, message)

    def _record(self, outcome: Outcome) -> None:
        item = self.flying.pop(outcome.key)
        if outcome.crash is not None:
            raise outcome.crash
        if outcome.skipped:  # the round stopped first: released, due again, at the end
            return
        if self.progress is not None:
            self.progress(1)
        if outcome.error is not None:
            failure = record_failure(
                self.engine, item.delivery_id, outcome.error, outcome.tries, self.settings
            )
            self.report.add_failure(failure)
            self.unanswered = self.unanswered + 1 if outcome.error.unanswered else 0
            if outcome.error.connection:
                self.report.stopped = str(outcome.error)
            elif self.unanswered >= UNANSWERED_IN_A_ROW:
                self.report.stopped = (
                    f"{self.unanswered} messages in a row got no answer after they were "
                    f"sent, the last: {outcome.error}"
                )
            return
        self.unanswered = 0
        self.recorder.sent(item.delivery_id, item.subscriber_id, outcome.tries)
        email = item.digest.recipient.email
        self.report.sent.append(email)
        self.report.papers += len(item.digest.entries)
        log.info("%s: sent %s", email, item.digest.subject)

    def _renew_lease(self) -> None:
        """The rest of this process's claims are still being worked on: renew their lease."""
        if time.monotonic() - self.renewed < self.renew_every:
            return
        renew(self.engine, self.me)
        self.renewed = time.monotonic()


def _compose(composer: Composer, digest: Digest, settings: Settings) -> Email:
    """The message; an address or name the mail format cannot carry fails this one only."""
    try:
        return composer.compose(digest, datetime.now(settings.timezone))
    except ValueError as exc:
        raise TransportError(
            f"cannot write a message to {digest.recipient.email!r}: {exc}", temporary=False
        ) from None
