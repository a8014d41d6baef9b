"""Initial schema: log, directory, authentication, mailbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(sa.table("log_head", sa.column("id"), sa.column("size")), [{"id": 1, "size": 0}])
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agencies",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("name_vi", sa.Text, nullable=False),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("root_key", sa.LargeBinary, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "review_statements",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("agency", sa.String(64), sa.ForeignKey("agencies.code"), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("statement", sa.LargeBinary, nullable=False),
        sa.Column("statement_hash", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_review_statements_agency", "review_statements", ["agency"])
    op.create_table(
        "certificates",
        sa.Column("device_id", sa.String(200), primary_key=True),
        sa.Column("agency", sa.String(64), sa.ForeignKey("agencies.code"), nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("cert_hash", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("signing_key", sa.LargeBinary, nullable=False),
        sa.Column("encryption_key", sa.LargeBinary, nullable=False),
        sa.Column("not_before", sa.BigInteger, nullable=False),
        sa.Column("not_after", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_certificates_agency", "certificates", ["agency"])
    op.create_table(
        "revocations",
        sa.Column(
            "device_id",
            sa.String(200),
            sa.ForeignKey("certificates.device_id"),
            primary_key=True,
        ),
        sa.Column("revocation", sa.LargeBinary, nullable=False),
        sa.Column("revocation_hash", sa.LargeBinary, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "auth_challenges",
        sa.Column("challenge", sa.LargeBinary, primary_key=True),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("token_hash", sa.LargeBinary, primary_key=True),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "envelopes",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("envelope_hash", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("sender_device", sa.String(200), nullable=False),
        sa.Column("counter", sa.BigInteger, nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("sender_device", "counter", name="uq_envelopes_sender_counter"),
    )
    op.create_table(
        "deliveries",
        sa.Column("cursor", Serial, primary_key=True, autoincrement=True),
        sa.Column(
            "message_id", sa.String(32), sa.ForeignKey("envelopes.message_id"), nullable=False
        ),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("acknowledged_at", sa.BigInteger, nullable=True),
        sa.Column("ack_log_index", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("device_id", "message_id", name="uq_deliveries_device_message"),
    )
    op.create_index("ix_deliveries_device_cursor", "deliveries", ["device_id", "cursor"])


def downgrade() -> None:
    for table in (
        "deliveries",
        "envelopes",
        "auth_tokens",
        "auth_challenges",
        "revocations",
        "certificates",
        "review_statements",
        "agencies",
        "log_entries",
        "log_head",
    ):
        op.drop_table(table)
