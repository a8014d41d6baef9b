"""Reviews forwarded by a peer relay (PROTOCOL.md §16.6): `federation_reviews` keeps, per
review entry of the peer's log, the index of the `peer_review` entry logged for it, so a
forwarded review sent again is logged once; `home_statements` keeps each agency's newest
root-signed home statement naming this relay (§16.4) with the index of its `home` entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_reviews",
        sa.Column("from_relay", sa.String(255), primary_key=True),
        sa.Column("review_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("message_id", sa.String(32), nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "home_statements",
        sa.Column("agency", sa.String(64), primary_key=True),
        sa.Column("statement", sa.LargeBinary, nullable=False),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("home_statements")
    op.drop_table("federation_reviews")
