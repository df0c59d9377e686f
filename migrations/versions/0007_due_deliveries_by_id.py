"""due deliveries by id

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

A sender claims the oldest due deliveries a batch at a time. Through the index on
(status, digest_date) each claim read and sorted every due delivery, so a day's claims
cost the square of its digests (35 ms a claim at 100,000, holding SQLite's write lock);
an index on (status, id) hands each state's due deliveries over in order, and a claim
reads its batch alone.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_deliveries_status_id"), "deliveries", ["status", "id"], unique=False)
    op.drop_index(op.f("ix_deliveries_status_digest_date"), table_name="deliveries")


def downgrade() -> None:
    op.create_index(
        op.f("ix_deliveries_status_digest_date"),
        "deliveries",
        ["status", "digest_date"],
        unique=False,
    )
    op.drop_index(op.f("ix_deliveries_status_id"), table_name="deliveries")
