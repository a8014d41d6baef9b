"""Review keys sealed to supervisor devices.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_key_wraps",
        sa.Column("device_id", sa.String(200), primary_key=True),
        sa.Column("key_id", sa.String(128), primary_key=True),
        sa.Column("agency", sa.String(64), sa.ForeignKey("agencies.code"), nullable=False),
        sa.Column("wrap", sa.LargeBinary, nullable=False),
        sa.Column("wrap_hash", sa.LargeBinary, nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_review_key_wraps_agency", "review_key_wraps", ["agency"])


def downgrade() -> None:
    op.drop_index("ix_review_key_wraps_agency", table_name="review_key_wraps")
    op.drop_table("review_key_wraps")
