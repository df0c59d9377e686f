"""What sending did: the report of a round, a run or a worker, by subscriber address."""

from __future__ import annotations

from dataclasses import dataclass, field

from digest.models import DeliveryStatus
from digest.outbox.results import Failure


@dataclass
class SendReport:
    """What a round of sending did, by subscriber address."""

    sent: list[str] = field(default_factory=list)
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    papers: int = 0
    stopped: str | None = None
    left: int = 0

    def as_json(self) -> dict[str, object]:
        """The round as plain data for scripts; the same shape from `run` and `worker`."""
        return {
            "sent": self.sent,
            "deferred": [{"email": email, "error": error} for email, error in self.deferred],
            "failed": [{"email": email, "error": error} for email, error in self.failed],
            "suspended": self.suspended,
            "stopped": self.stopped,
            "left_due": self.left,
        }

    def add_failure(self, failure: Failure) -> None:
        """Count a delivery that was deferred or failed (and maybe suspended its subscriber)."""
        not_sent = (failure.email, failure.error)
        if failure.status == DeliveryStatus.DEFERRED:
            self.deferred.append(not_sent)
        else:
            self.failed.append(not_sent)
        if failure.suspended:
            self.suspended.append(failure.email)

    def add(self, other: SendReport) -> None:
        """Count `other`'s round in too; its stop, if any, is the latest word."""
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.suspended += other.suspended
        self.papers += other.papers
        self.stopped, self.left = other.stopped, other.left
