"""Forwarded reviews made durable (PROTOCOL.md §16.6, "Reviews"): `federation_review_outbox`
keeps, per peer and `review` entry index, a review still to send to the peer relay (and, once
answered, when), so a relay restarted before the peer answered sends it again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_review_outbox",
        sa.Column("peer", sa.String(255), primary_key=True),
        sa.Column("review_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("enqueued_at", sa.BigInteger, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index(
        "ix_federation_review_outbox_due",
        "federation_review_outbox",
        ["finished_at", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_federation_review_outbox_due", table_name="federation_review_outbox")
    op.drop_table("federation_review_outbox")
