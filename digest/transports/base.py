"""The transport interface, in the shape of Django's mail backends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from digest.mime import Email


class Transport(ABC):
    """Delivers messages to a mail system; `open` before, `close` after (or use `with`).

    A delivery that fails raises TransportError, which says whether it is worth another
    try (`temporary`) and whether the transport itself cannot be used (`connection`).
    """

    def open(self) -> None:  # noqa: B027 - a transport with nothing to open keeps this no-op
        """Connect, where the transport has anything to connect to."""

    def close(self) -> None:  # noqa: B027 - likewise
        """Release the connection."""

    @abstractmethod
    def deliver(self, email: Email) -> None:
        """Hand one message to the mail system; TransportError if it was not accepted."""

    def parallel(self, connections: int) -> list[Transport]:
        """This transport and up to `connections - 1` more like it, to deliver over at once.

        A transport that is not a connection (a folder, a list) is one at a time: itself.
        """
        return [self]

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
