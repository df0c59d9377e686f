"""history indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

The "never sent before" check looks up the items of a day's papers, and the previous
digest of every subscriber is found a day at a time: both need an index led by the
column they look up by (the unique constraints lead with subscriber_id).
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_deliveries_digest_date_subscriber_id"),
        "deliveries",
        ["digest_date", "subscriber_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_delivery_items_paper_id_subscriber_id"),
        "delivery_items",
        ["paper_id", "subscriber_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_items_paper_id_subscriber_id"), table_name="delivery_items")
    op.drop_index(op.f("ix_deliveries_digest_date_subscriber_id"), table_name="deliveries")
