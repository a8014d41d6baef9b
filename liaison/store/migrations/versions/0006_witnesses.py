"""Registered witnesses, cosignatures per (witness, key), review requests honoured once.

Issue 14, defects 1 and 6. Cosignatures held before this revision came from anyone (no witness
was registered): they are dropped; registered witnesses cosign again at their next round.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_requests",
        sa.Column("device_id", sa.String(200), primary_key=True),
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("requested_at", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("reason_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("log_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "witnesses",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("witness_key", sa.LargeBinary(32), primary_key=True),
        sa.Column("added_at", sa.BigInteger, nullable=False),
    )
    op.drop_table("cosignatures")
    op.create_table(
        "cosignatures",
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("witness_key", sa.LargeBinary(32), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cosignatures")
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("witness_key", sa.LargeBinary, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.drop_table("witnesses")
    op.drop_table("review_requests")
