"""liked reasons

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A paper picked for its likeness to papers the reader liked says so in the email: the
titles of those liked papers are kept with the item, as the seed papers' are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("liked", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("delivery_items", schema=None) as batch_op:
        batch_op.drop_column("liked")
