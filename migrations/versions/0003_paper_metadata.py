"""paper metadata from the API

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("arxiv_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("authors", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("upvotes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("project_url", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("published", sa.Date(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_papers_arxiv_id"), ["arxiv_id"])


def downgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_papers_arxiv_id"), type_="unique")
        batch_op.drop_column("published")
        batch_op.drop_column("project_url")
        batch_op.drop_column("upvotes")
        batch_op.drop_column("authors")
        batch_op.drop_column("arxiv_id")
