"""The rate limit of a sending process (DIGEST_SMTP_RATE): a sliding window of messages."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from functools import cache


class SlidingWindow:
    """At most `limit` events in any `window` seconds, across threads.

    Hand-written rather than taken from PyPI: `limits` only answers "allowed now?" and reads
    the wall clock itself, so waiting for a slot would poll it, and pyrate-limiter's
    buckets, clocks and changing API between majors are much more than this needs. Here
    `acquire` sleeps exactly until the oldest event leaves the window, and the clock and
    the sleep can be replaced, so tests count instead of timing.
    """

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """`sleep` replaces the wait (by default: `time.sleep`, or the `stop` event's wait)."""
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a slot and take it; False, without one, if `stop` is set meanwhile."""
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] <= now - self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return True
                delay = self._times[0] + self.window - now
            if self._sleep is not None:
                self._sleep(delay)
            elif stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
            if stop is not None and stop.is_set():
                return False


@cache
def rate_limiter(per_minute: int) -> SlidingWindow | None:
    """The process-wide limit of `per_minute` messages (DIGEST_SMTP_RATE); None if 0.

    One per process, not per round: a worker's next round must not start a fresh window.
    """
    return SlidingWindow(per_minute) if per_minute > 0 else None
