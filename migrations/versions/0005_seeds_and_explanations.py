"""seeds and explanations

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("because", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("terms", sa.JSON(), server_default="[]", nullable=False))

    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seeds", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("seeds")

    with op.batch_alter_table("delivery_items", schema=None) as batch_op:
        batch_op.drop_column("terms")
        batch_op.drop_column("because")
