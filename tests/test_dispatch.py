"""The dispatcher and the rate limit: several SMTP connections to a real aiosmtpd server on
127.0.0.1, and send_due over them on a real SQLite file, including a relay that hangs up."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlalchemy import select

from digest.compose import make_composer
from digest.config import Settings
from digest.db import unit_of_work
from digest.errors import TransportError
from digest.mime import Email
from digest.models import Delivery, DeliveryStatus, Subscriber
from digest.outbox.history import status
from digest.sending.dispatch import Dispatcher
from digest.sending.rate import SlidingWindow, rate_limiter
from digest.sending.send import send_due
from digest.transports import MemoryTransport, SmtpTransport
from tests.smtp_servers import FlakyHandler, RecordingHandler, SlowHandler, serving
from tests.support import PENDING_DAY, composed, pending_deliveries


class FakeClock:
    """A clock that only moves when someone sleeps; it records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_sliding_window_lets_limit_through_then_waits_for_the_oldest_to_leave() -> None:
    clock = FakeClock()
    window = SlidingWindow(3, 60.0, clock=clock, sleep=clock.sleep)
    taken = []
    for _ in range(7):
        assert window.acquire()
        taken.append(clock.now - 1000.0)
    # Three at once, then each next one exactly when the oldest is 60 s old.
    assert taken == [0, 0, 0, 60, 60, 60, 120]
    assert all(sum(1 for t in taken if start <= t < start + 60) <= 3 for start in taken)


def test_sliding_window_counts_a_burst_after_a_quiet_spell_afresh() -> None:
    clock = FakeClock()
    window = SlidingWindow(2, 10.0, clock=clock, sleep=clock.sleep)
    window.acquire()
    clock.now += 7
    window.acquire()
    clock.now += 4  # the first left the window, the second has 6 s to go
    window.acquire()
    assert clock.sleeps == []
    window.acquire()
    assert clock.sleeps == [pytest.approx(6.0)]


def test_sliding_window_gives_up_when_stopped() -> None:
    window = SlidingWindow(1, 3600.0)
    stop = threading.Event()
    assert window.acquire(stop)
    stop.set()
    assert not window.acquire(stop)


def test_the_rate_limit_is_one_per_process_and_none_when_unlimited() -> None:
    assert rate_limiter(0) is None
    assert rate_limiter(120) is rate_limiter(120)
    assert rate_limiter(120).limit == 120


def _retrying(settings: Settings):
    return lambda: settings.retrying(TransportError, max_wait=1)


def test_pool_sends_every_message_once_over_several_connections(settings: Settings) -> None:
    handler = SlowHandler(0.02)
    with serving(handler) as relay:
        smtp = relay.settings(settings)
        transports = SmtpTransport(smtp).parallel(4)
        assert len(transports) == 4
        recipients = [f"reader{n}@example.org" for n in range(24)]
        with Dispatcher(transports, _retrying(smtp)) as pool:
            for key, address in enumerate(recipients):
                pool.submit(key, composed(smtp, address))
            outcomes = []
            for _ in recipients:
                outcome = pool.outcome(timeout=10)
                assert outcome is not None
                outcomes.append(outcome)
                pool.settle()
        peers = {t._connection for t in transports}
    assert peers == {None}  # all closed
    assert sorted(o.key for o in outcomes) == list(range(24))
    assert all(o.error is None and o.tries == 1 and not o.skipped for o in outcomes)
    assert sorted(a.rcpt_tos[0] for a in handler.log.accepted) == sorted(recipients)


def test_pool_keeps_at_most_one_unrecorded_message_per_connection(settings: Settings) -> None:
    handler = RecordingHandler()
    with serving(handler) as relay:
        smtp = relay.settings(settings)
        with Dispatcher(SmtpTransport(smtp).parallel(3), _retrying(smtp)) as pool:
            for key in range(10):
                pool.submit(key, composed(smtp, f"r{key}@example.org"))
            first = [pool.outcome(timeout=10) for _ in range(3)]
            assert all(o is not None for o in first)
            # Nothing settled: no thread may start another message.
            assert pool.outcome(timeout=0.5) is None
            assert handler.log.count() == 3
            pool.settle()
            assert pool.outcome(timeout=10) is not None
            assert handler.log.count() == 4


class ThreadNoting(MemoryTransport):
    """Keeps messages and the name of the thread that sent each."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def deliver(self, email: Email) -> None:
        self.threads.append(threading.current_thread().name)
        super().deliver(email)


def test_one_connection_sends_in_the_callers_thread_one_unrecorded_at_most(
    settings: Settings,
) -> None:
    transport = ThreadNoting()
    before = threading.active_count()
    with Dispatcher([transport], _retrying(settings)) as pool:
        assert threading.active_count() == before
        for key in range(3):
            pool.submit(key, composed(settings, f"r{key}@example.org"))
        assert transport.outbox == []  # queued: sent when an outcome is asked for
        first = pool.outcome(timeout=1)
        assert first is not None and first.key == 0 and first.error is None
        # Not settled: nothing else goes out.
        assert pool.outcome(timeout=1) is None
        assert len(transport.outbox) == 1
        pool.settle()
        second = pool.outcome(timeout=1)
        assert second is not None and second.key == 1
        pool.settle()
        pool.stop()
        third = pool.outcome(timeout=1)
        assert third is not None and third.skipped
    assert [e.recipient for e in transport.outbox] == ["r0@example.org", "r1@example.org"]
    assert transport.threads == [threading.current_thread().name] * 2


def test_pool_rate_limit_spaces_the_sends(settings: Settings) -> None:
    clock = FakeClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.sleep(seconds)

    window = SlidingWindow(2, 60.0, clock=clock, sleep=sleep)
    memory = MemoryTransport()
    with Dispatcher([memory], _retrying(settings), window) as pool:
        for key in range(5):
            pool.submit(key, composed(settings, f"r{key}@example.org"))
        for _ in range(5):
            assert pool.outcome(timeout=10) is not None
            pool.settle()
    assert len(memory.outbox) == 5
    assert clock.sleeps == [60.0, 60.0]  # 2 at once, 2 a minute later, 1 a minute after


def test_send_due_over_four_connections_sends_and_records_each_once(engine, settings) -> None:
    emails = pending_deliveries(engine, 40)
    # Some DATA commands answered 451, some answered by hanging up, with 4 connections busy.
    handler = FlakyHandler(3, refuse={emails[5]}, tempfail={emails[7]}, data_451=0.1, drop=0.1)
    with serving(handler) as relay:
        smtp = dataclasses.replace(relay.settings(settings), smtp_connections=4, retry_attempts=4)
        report = send_due(
            engine, smtp, SmtpTransport(smtp), make_composer(smtp), PENDING_DAY, batch=7
        )
    assert handler.log.events["dropped"] > 0 and handler.log.events["data 451"] > 0
    assert [email for email, _ in report.failed] == [emails[5]]
    deferred = {email for email, _ in report.deferred}
    assert emails[7] in deferred
    assert sorted([*report.sent, *deferred, emails[5]]) == emails  # each once
    received = [a.rcpt_tos[0] for a in handler.log.accepted]
    assert sorted(received) == sorted(report.sent)  # none twice
    outbox = status(engine, PENDING_DAY)
    assert outbox.counts == {
        "pending": 0,
        "sending": 0,
        "sent": len(report.sent),
        "deferred": len(deferred),
        "failed": 1,
    }
    with unit_of_work(engine) as session:
        claimed = session.scalars(select(Delivery).where(Delivery.claimed_by.is_not(None)))
        assert list(claimed) == []
        refused = session.scalars(select(Subscriber).where(Subscriber.email == emails[5])).one()
        assert refused.consecutive_failures == 1


def test_a_relay_that_hangs_up_on_every_connection_stops_all_of_them(engine, settings) -> None:
    emails = pending_deliveries(engine, 30)
    handler = SlowHandler(0.05)
    with serving(handler) as relay:
        smtp = dataclasses.replace(relay.settings(settings), smtp_connections=4, retry_attempts=2)
        transport = SmtpTransport(smtp)
        stop_after = 6

        def kill_relay_when_busy() -> None:
            while handler.log.count() < stop_after:
                threading.Event().wait(0.01)
            relay_port_gone.set()

        relay_port_gone = threading.Event()
        watcher = threading.Thread(target=kill_relay_when_busy, daemon=True)
        watcher.start()
        original = SmtpTransport.deliver

        def deliver(self: SmtpTransport, message) -> None:
            if relay_port_gone.is_set():
                # Every connection now fails as a dead relay does: refused at connect.
                self.close()
                self._settings = dataclasses.replace(self._settings, smtp_port=1)
            original(self, message)

        SmtpTransport.deliver = deliver  # type: ignore[method-assign]
        try:
            report = send_due(engine, smtp, transport, make_composer(smtp), PENDING_DAY, batch=10)
        finally:
            SmtpTransport.deliver = original  # type: ignore[method-assign]
    assert report.stopped is not None and "cannot connect" in report.stopped
    assert report.failed == [] and report.suspended == []
    accepted = [a.rcpt_tos[0] for a in handler.log.accepted]
    assert sorted(accepted) == sorted(report.sent)
    assert len(accepted) >= stop_after
    outbox = status(engine, PENDING_DAY)
    assert outbox.counts["sending"] == 0
    assert outbox.counts["failed"] == 0
    assert outbox.counts[DeliveryStatus.SENT] == len(report.sent)
    left = outbox.counts["pending"] + outbox.counts["deferred"]
    assert left == report.left == len(emails) - len(report.sent) > 0
