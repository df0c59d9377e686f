"""Sending one run's digests from several processes at once.

Composing and recording a message is Python work that holds one core (the GIL), so a
large run sends from one process per core: this one and `processes - 1` spawned ones,
each claiming its own batches in the database as `digest worker` processes do (see
digest.outbox.claims). A fresh process costs about a second to start, so small runs stay in one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.sharedctypes import Synchronized
from threading import BrokenBarrierError
from typing import Any

from sqlalchemy import Engine

from digest.compose import Composer, make_composer
from digest.config import Settings
from digest.db import make_engine
from digest.outbox.claims import count_due
from digest.sending.report import SendReport
from digest.sending.send import send_due
from digest.transports import Transport, make_transport

log = logging.getLogger(__name__)

# A process is started for every this many due digests at most: below that, starting one
# (importing the model's libraries, a second or two) costs more than it saves.
MIN_SHARE = 500
# How long the processes wait for each other to be ready before sending anyway.
STARTUP_SECONDS = 60.0
# How often the progress of the other processes is passed on while this one waits.
POLL_SECONDS = 0.2


def sending_processes(settings: Settings, due: int) -> int:
    """How many processes should send `due` digests: DIGEST_SENDERS, else the default.

    The default is one per core into the file outbox and one over SMTP, where each process
    opens connections of its own (see Settings.senders). With DIGEST_SMTP_RATE set it is
    one: a throttled relay is bound by its rate, and one limiter keeps the rate exact.
    """
    if settings.smtp_rate:
        return 1
    wanted = settings.senders or (1 if settings.smtp_host else _cores())
    return max(1, min(wanted, due // MIN_SHARE))


@dataclass
class Sending:
    """What the sending processes of one run did together."""

    report: SendReport = field(default_factory=SendReport)
    # Per process, this one's first: how many digests each sent.
    shares: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def send_from_processes(
    engine: Engine,
    settings: Settings,
    transport: Transport,
    composer: Composer,
    up_to: date,
    processes: int,
    progress: Callable[[int], object] | None = None,
) -> Sending:
    """Send the due digests of days up to `up_to` from this and `processes - 1` more.

    The others make their own engine, composer and transport from `settings`, so
    `transport` must then be the one `make_transport(settings)` makes. `progress` hears
    of every digest tried by any of them. A process that fails is reported in `problems`,
    and this one then sends what it left.
    """
    if processes == 1:
        alone = send_due(
            engine, settings, transport, composer, up_to, settings.batch_size, progress=progress
        )
        return Sending(report=alone, shares=[len(alone.sent)])
    context = multiprocessing.get_context("spawn")
    tried = context.Value("q", 0)
    ready = context.Barrier(processes)
    passed = _Passed(tried, progress)
    sending = Sending()
    with ProcessPoolExecutor(
        processes - 1, mp_context=context, initializer=_join, initargs=(tried, ready)
    ) as pool:
        others = [pool.submit(_send_share, settings, up_to) for _ in range(processes - 1)]
        _wait_for(ready)
        mine = send_due(
            engine, settings, transport, composer, up_to, settings.batch_size, progress=passed
        )
        while not all(future.done() for future in others):
            wait(others, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            passed(0)
        # The others' last digests, counted after this one's last report or the loop's last
        # look: a finished process has counted all of its own.
        passed(0)
    reports = [mine, *(_result(future, sending.problems) for future in others)]
    if sending.problems:
        leftover = send_due(
            engine, settings, transport, composer, up_to, settings.batch_size, progress=passed
        )
        _merge(mine, leftover)
    for report in reports:
        _merge(sending.report, report)
    sending.shares = [len(report.sent) for report in reports]
    if sending.report.stopped is not None:
        sending.report.left = count_due(engine, up_to)
    return sending


class _Passed:
    """The progress callback of this process: its own digests and the others' so far."""

    def __init__(self, tried: Synchronized[int], progress: Callable[[int], object] | None) -> None:
        self._tried = tried
        self._progress = progress
        self._seen = 0

    def __call__(self, count: int) -> None:
        others = self._tried.value
        if self._progress is not None and count + others - self._seen:
            self._progress(count + others - self._seen)
        self._seen = others


def _merge(total: SendReport, report: SendReport) -> None:
    """Add `report` to `total`; the first stop is the one reported."""
    stopped = total.stopped
    total.add(report)
    total.stopped = stopped or report.stopped


def _result(future: Future[SendReport], problems: list[str]) -> SendReport:
    try:
        return future.result()
    except Exception as error:  # any failure of that process: this one sends its share
        problems.append(f"a sending process failed, its digests were sent by another: {error}")
        log.error("a sending process failed: %s", error)
        return SendReport()


def _wait_for(ready: Any) -> None:
    try:
        ready.wait(STARTUP_SECONDS)
    except BrokenBarrierError:
        log.warning("the other sending processes were not ready in time: sending anyway")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# The shared counter and barrier of a spawned sending process, set as it starts.
_shared: dict[str, Any] = {}


def _join(tried: Synchronized[int], ready: Any) -> None:
    _shared.update(tried=tried, ready=ready)


def _count(count: int) -> None:
    tried = _shared["tried"]
    with tried.get_lock():
        tried.value += count


def _send_share(settings: Settings, up_to: date) -> SendReport:
    """A spawned process's part: claim and send batches until none is due."""
    ready = _shared["ready"]
    engine = make_engine(settings.database_url)
    try:
        try:
            composer = make_composer(settings)
            transport = make_transport(settings)
        except BaseException:
            ready.abort()  # the others need not wait for this one
            raise
        _wait_for(ready)
        return send_due(
            engine, settings, transport, composer, up_to, settings.batch_size, progress=_count
        )
    finally:
        engine.dispose()
