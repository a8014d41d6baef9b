"""Review requests honoured once (issue 14, defect 6).

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_requests",
        sa.Column("device_id", sa.String(200), primary_key=True),
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("requested_at", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("review_requests")
