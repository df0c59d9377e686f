"""rhythm and library

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08

Each subscriber may have their own time zone, send time and frequency (daily, or weekly on
a weekday), and a reference library export whose papers are their seeds; the day whose
digest had nothing new is kept, so that it is not planned again at every check. A delivery
records the papers it was chosen from, by the instant they were stored and by their
logical day: readers in other zones are served at other hours of one logical day, so the
day alone no longer tells which papers came after a reader's last digest. A delivery
recorded before has neither (see Delivery.papers_through).

Columns are only added and dropped, never altered: on SQLite an alteration rebuilds the
table, which the rows that refer to it forbid while foreign keys are enforced.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SUBSCRIBER_COLUMNS = [
    sa.Column("timezone", sa.String(length=64), nullable=True),
    sa.Column("send_time", sa.Time(), nullable=True),
    sa.Column("frequency", sa.String(length=8), server_default="daily", nullable=False),
    sa.Column("weekday", sa.Integer(), nullable=True),
    sa.Column("library", sa.String(length=1024), nullable=True),
    sa.Column("library_sha256", sa.String(length=64), nullable=True),
    sa.Column("library_seeds", sa.JSON(), server_default="[]", nullable=False),
    sa.Column("nothing_new_on", sa.Date(), nullable=True),
]
DELIVERY_COLUMNS = [
    sa.Column("papers_through", sa.Date(), nullable=True),
    sa.Column("papers_until", sa.DateTime(timezone=True), nullable=True),
]


def upgrade() -> None:
    for column in SUBSCRIBER_COLUMNS:
        op.add_column("subscribers", column)
    for column in DELIVERY_COLUMNS:
        op.add_column("deliveries", column)


def downgrade() -> None:
    for column in reversed(DELIVERY_COLUMNS):
        op.drop_column("deliveries", column.name)
    for column in reversed(SUBSCRIBER_COLUMNS):
        op.drop_column("subscribers", column.name)
