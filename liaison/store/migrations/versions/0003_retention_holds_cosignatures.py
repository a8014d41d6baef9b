"""Retention periods, case tags, legal holds, purged envelopes and witness cosignatures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        batch.add_column(sa.Column("purged_at", sa.BigInteger, nullable=True))
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(200), primary_key=True),
        sa.Column("witness_key", sa.LargeBinary, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "retention_periods",
        sa.Column("agency", sa.String(64), sa.ForeignKey("agencies.code"), primary_key=True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "case_tags",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("tag", sa.LargeBinary, primary_key=True),
    )
    op.create_index("ix_case_tags_tag", "case_tags", ["tag"])
    op.create_table(
        "legal_holds",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("agency", sa.String(64), sa.ForeignKey("agencies.code"), nullable=False),
        sa.Column("tag", sa.LargeBinary, nullable=False),
        sa.Column("placed_by", sa.String(200), nullable=False),
        sa.Column("reason_hash", sa.LargeBinary, nullable=False),
        sa.Column("placed_at", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("released_at", sa.BigInteger, nullable=True),
        sa.Column("release_log_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_legal_holds_tag", "legal_holds", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_legal_holds_tag", table_name="legal_holds")
    op.drop_table("legal_holds")
    op.drop_index("ix_case_tags_tag", table_name="case_tags")
    op.drop_table("case_tags")
    op.drop_table("retention_periods")
    op.drop_table("cosignatures")
    with op.batch_alter_table("envelopes") as batch:
        batch.drop_column("purged_at")
