"""The dispatcher: a batch of messages delivered over several transports at once.

Each transport delivers one message at a time (digest.transports); the dispatcher keeps
one thread per transport busy, retries temporary failures, keeps to the rate limit, and
hands back what became of each message for the sending round to record.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from tenacity import Retrying

from digest.errors import TransportError
from digest.mime import Email
from digest.sending.rate import SlidingWindow
from digest.transports import Transport


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted message.

    `skipped`: never tried, because the dispatcher stopped first. `crash`: an unexpected
    error in a dispatching thread, for the caller to raise.
    """

    key: int
    tries: int = 0
    error: TransportError | None = None
    skipped: bool = False
    crash: BaseException | None = None


class _Halted(Exception):
    """The dispatcher stopped while a message waited for the rate limit."""


class Dispatcher:
    """Dispatches messages over several transports at once, one thread per transport.

    `submit` queues a message under a key; `outcome` hands back, in the order they end, what
    became of them, each after at most `retrying()`'s tries. Every outcome must be
    `settle`d once the caller has recorded it: a thread takes a new message only while
    fewer than one message per transport is sent but not yet settled, so a crash of the
    process leaves at most that many unrecorded. A transport that cannot be used
    (`TransportError.connection`) stops the whole dispatcher: messages in flight end, the
    ones still queued come back `skipped`.

    With one transport there is no thread: `outcome` delivers the next queued message
    itself. Handing each message to a thread and its outcome back, the two threads taking
    turns on the GIL, cost a quarter of a single connection's throughput.
    """

    def __init__(
        self,
        transports: Sequence[Transport],
        retrying: Callable[[], Retrying],
        limiter: SlidingWindow | None = None,
    ) -> None:
        self._transports = list(transports)
        self._retrying = retrying
        self._limiter = limiter
        self._todo: queue.SimpleQueue[tuple[int, Email] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._unsettled = threading.Semaphore(len(self._transports))
        self._halt = threading.Event()
        self._inline = self._transports[0] if len(self._transports) == 1 else None
        self._held = False  # inline: an outcome handed out and not yet settled
        self._threads = [
            threading.Thread(target=self._run, args=(t,), name=f"dispatch-{n}", daemon=True)
            for n, t in enumerate(self._transports)
            if self._inline is None
        ]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stopped(self) -> bool:
        """True once `stop` was called or a transport could not be used."""
        return self._halt.is_set()

    @property
    def waiting(self) -> int:
        """Messages submitted and not yet taken by a thread (roughly, as threads take them)."""
        return self._todo.qsize()

    def submit(self, key: int, email: Email) -> None:
        """Queue `email`; its outcome comes back under `key`."""
        self._todo.put((key, email))

    def outcome(self, timeout: float | None = None) -> Outcome | None:
        """The next outcome to end, waiting up to `timeout` seconds for it (None: no wait cap)."""
        if self._inline is not None:
            return self._deliver_inline()
        try:
            return self._done.get(timeout=timeout)
        except queue.Empty:
            return None

    def settle(self) -> None:
        """One outcome is recorded: a thread may take another message."""
        if self._inline is not None:
            self._held = False
        else:
            self._unsettled.release()

    def stop(self) -> None:
        """Take no new message; the ones in flight end, the queued ones come back skipped."""
        self._halt.set()

    def close(self) -> None:
        """Stop, wait for the threads, close every transport."""
        self.stop()
        for _ in self._threads:
            self._unsettled.release()  # a thread waiting for a settle that will not come
            self._todo.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join()
        for transport in self._transports:
            transport.close()

    def _run(self, transport: Transport) -> None:
        while True:
            # Once stopped, queued messages are only handed back: no permit needed for that.
            if not self._halt.is_set():
                self._unsettled.acquire()
            item = self._todo.get()
            if item is None:
                return
            self._done.put(self._attempt(transport, *item))

    def _deliver_inline(self) -> Outcome | None:
        """Deliver the next queued message here, unless the last outcome is not settled yet."""
        assert self._inline is not None
        if self._held:
            return None
        try:
            item = self._todo.get_nowait()
        except queue.Empty:
            return None
        assert item is not None  # the None that ends a thread is only queued with threads
        self._held = True
        return self._attempt(self._inline, *item)

    def _attempt(self, transport: Transport, key: int, email: Email) -> Outcome:
        if self._halt.is_set():
            return Outcome(key, skipped=True)
        try:
            return self._deliver(key, transport, email)
        except BaseException as exc:  # a bug: hand it to the caller instead of dying silently
            return Outcome(key, crash=exc)

    def _deliver(self, key: int, transport: Transport, email: Email) -> Outcome:
        tries = 0
        last: TransportError | None = None
        try:
            for attempt in self._retrying():
                with attempt:
                    if self._limiter is not None and not self._limiter.acquire(self._halt):
                        raise _Halted
                    tries += 1
                    try:
                        transport.deliver(email)
                    except TransportError as error:
                        last = error
                        raise
        except _Halted:
            return Outcome(key, tries, last, skipped=last is None)
        except TransportError as error:
            if error.connection:
                self.stop()
            return Outcome(key, tries, error)
        return Outcome(key, tries)
