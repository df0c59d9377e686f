"""The memory transport: keeps messages in a list."""

from __future__ import annotations

from digest.mime import Email
from digest.transports.base import Transport


class MemoryTransport(Transport):
    """Keeps messages in a list, for tests and previews."""

    def __init__(self) -> None:
        self.outbox: list[Email] = []

    def deliver(self, email: Email) -> None:
        self.outbox.append(email)
