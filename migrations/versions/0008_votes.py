"""votes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Readers mark papers from their digest as "more like this" (up) or "less like this" (down)
through signed links; the last vote per subscriber and paper stands.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("vote", sa.String(length=4), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("vote IN ('up', 'down')", name=op.f("ck_votes_vote")),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name=op.f("fk_votes_paper_id_papers")),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name=op.f("fk_votes_subscriber_id_subscribers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint(
            "subscriber_id", "paper_id", name=op.f("uq_votes_subscriber_id_paper_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("votes")
