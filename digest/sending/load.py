"""Loading claimed deliveries as digests, with plain SELECTs, each paper once a round."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Text, cast, select

from digest.compose import Digest, Entry, PaperFields, entry, make_digest
from digest.db import in_chunks, reading
from digest.models import Delivery, DeliveryItem, DeliveryStatus, Frequency, Paper, Subscriber


@dataclass(frozen=True)
class Claimed:
    """A claimed delivery, loaded: what sending and recording it need."""

    delivery_id: int
    subscriber_id: int
    digest: Digest


# An item's JSON lists, read as their text: see _decode_lists.
_ITEM_LISTS = (DeliveryItem.matched, DeliveryItem.because, DeliveryItem.terms, DeliveryItem.liked)


def _decode_lists(items: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Each item's four JSON lists, the last four columns of its row, as Python lists.

    All of a batch's in one `json.loads`: decoding them one value at a time, as the JSON
    type does, cost its per-call overhead once per list and item, about 4% of a message.
    """
    texts = ",".join(f"[{m},{b},{t},{liked}]" for *_, m, b, t, liked in items)
    return list(json.loads(f"[{texts}]"))


class Loader:
    """Loads claimed deliveries as digests with plain SELECTs, each paper once a round.

    The ORM's objects for a batch (deliveries, subscribers, items and papers, their JSON
    decoded) cost a third of a message's time; a day's digests share the day's papers.
    """

    def __init__(self, engine: Engine, me: str) -> None:
        self.engine, self.me = engine, me
        self.papers: dict[int, PaperFields] = {}

    def load(self, ids: list[int]) -> list[Claimed]:
        """The claimed deliveries `ids` with their contents (three SELECTs a batch)."""
        if not ids:
            return []
        with reading(self.engine) as connection:
            deliveries = connection.execute(
                select(
                    Delivery.id,
                    Delivery.subscriber_id,
                    Delivery.digest_date,
                    Delivery.message_id,
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.keywords,
                    Subscriber.frequency,
                )
                .join(Subscriber)
                .where(
                    Delivery.id.in_(ids),
                    Delivery.claimed_by == self.me,
                    Delivery.status == DeliveryStatus.SENDING,
                )
                .order_by(Delivery.id)
            ).all()
            items = connection.execute(
                select(
                    DeliveryItem.delivery_id,
                    DeliveryItem.paper_id,
                    DeliveryItem.score,
                    *(cast(column, Text) for column in _ITEM_LISTS),
                )
                .where(DeliveryItem.delivery_id.in_(ids))
                .order_by(DeliveryItem.delivery_id, DeliveryItem.rank)
            ).all()
            self._fetch_papers(connection, {item.paper_id for item in items})
        entries: dict[int, list[Entry]] = {}
        for item, (matched, because, terms, liked) in zip(items, _decode_lists(items), strict=True):
            entries.setdefault(item.delivery_id, []).append(
                entry(self.papers[item.paper_id], item.score, matched, because, terms, liked=liked)
            )
        # One missing was taken over after our claim went stale: it is the other's now.
        return [
            Claimed(
                d.id,
                d.subscriber_id,
                make_digest(
                    d,
                    d.digest_date,
                    entries.get(d.id, []),
                    d.message_id,
                    weekly=d.frequency == Frequency.WEEKLY,
                ),
            )
            for d in deliveries
        ]

    def _fetch_papers(self, connection: Connection, wanted: set[int]) -> None:
        missing = sorted(wanted - self.papers.keys())
        for chunk in in_chunks(missing):
            for paper in connection.execute(
                select(
                    Paper.id,
                    Paper.title,
                    Paper.abstract,
                    Paper.code_url,
                    Paper.arxiv_id,
                    Paper.authors,
                    Paper.upvotes,
                    Paper.project_url,
                ).where(Paper.id.in_(chunk))
            ):
                self.papers[paper.id] = paper
