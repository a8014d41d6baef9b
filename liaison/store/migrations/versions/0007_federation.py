"""Federation (issue 15, PROTOCOL.md §16): peers, agency homes, the outbound queue per peer,
acknowledgements going back, inbound duplicate check, peer acks received, request nonces.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("log_key", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("added_at", sa.BigInteger, nullable=False),
        sa.Column("removed_at", sa.BigInteger, nullable=True),
        sa.Column("last_seen_at", sa.BigInteger, nullable=True),
        sa.Column("mutual_at", sa.BigInteger, nullable=True),
        sa.Column("checkpoint", sa.Text, nullable=True),
        sa.Column("checkpoint_size", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("log_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agency_homes",
        sa.Column("agency", sa.String(64), primary_key=True),
        sa.Column("relay_origin", sa.String(255), nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_agency_homes_relay", "agency_homes", ["relay_origin"])
    op.create_table(
        "federation_outbound",
        sa.Column("peer", sa.String(255), primary_key=True),
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("sender_device", sa.String(200), nullable=False),
        sa.Column("envelope_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_federation_outbound_state", "federation_outbound", ["peer", "state"])
    op.create_table(
        "federation_acks_out",
        sa.Column("id", Serial, primary_key=True, autoincrement=True),
        sa.Column("peer", sa.String(255), nullable=False),
        sa.Column("ack", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_federation_acks_out_peer", "federation_acks_out", ["peer", "sent_at"])
    op.create_table(
        "federation_inbound",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("from_relay", sa.String(255), nullable=False),
        sa.Column("envelope_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("ack", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "peer_acks",
        sa.Column("message_id", sa.String(32), primary_key=True),
        sa.Column("event", sa.String(16), primary_key=True),
        sa.Column("device_id", sa.String(200), primary_key=True),
        sa.Column("from_relay", sa.String(255), nullable=False),
        sa.Column("ack", sa.LargeBinary, nullable=False),
        sa.Column("peer_index", sa.BigInteger, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "federation_nonces",
        sa.Column("sender", sa.String(255), primary_key=True),
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_federation_nonces_expires", "federation_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_table("federation_nonces")
    op.drop_table("peer_acks")
    op.drop_table("federation_inbound")
    op.drop_table("federation_acks_out")
    op.drop_table("federation_outbound")
    op.drop_table("agency_homes")
    op.drop_table("peers")
