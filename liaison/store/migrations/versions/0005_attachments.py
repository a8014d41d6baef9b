"""Attachment blobs and the envelopes that declare them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("blob_id", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("uploader_device", sa.String(200), nullable=False),
        sa.Column("agency", sa.String(64), nullable=False),
        sa.Column("completed_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_blobs_agency", "blobs", ["agency"])
    op.create_table(
        "envelope_blobs",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("blob_id", sa.String(64), sa.ForeignKey("blobs.blob_id"), primary_key=True),
    )
    op.create_index("ix_envelope_blobs_blob", "envelope_blobs", ["blob_id"])


def downgrade() -> None:
    op.drop_index("ix_envelope_blobs_blob", table_name="envelope_blobs")
    op.drop_table("envelope_blobs")
    op.drop_index("ix_blobs_agency", table_name="blobs")
    op.drop_table("blobs")
