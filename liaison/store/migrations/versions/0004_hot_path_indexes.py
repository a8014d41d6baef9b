"""Indexes for the hot reads that had none (tests/store/test_query_plans.py lists the plans).

- deliveries by message: the recipients of an envelope (review list, audit export, retention);
- envelopes by arrival time: a month of one officer's traffic, a day of an agency's, and the
  retention purge's candidates;
- device ids and sender devices by prefix (`<agency>:<officer>:%`), on PostgreSQL: a B-tree
  serves LIKE 'prefix%' only under the C collation, so the pattern operator classes make it
  serve under any database collation. SQLite ignores the classes: a plain index, so that
  both stores have the indexes tables.py declares.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])
    op.create_index("ix_envelopes_received_at", "envelopes", ["received_at"])
    op.create_index(
        "ix_deliveries_device_prefix",
        "deliveries",
        ["device_id"],
        postgresql_ops={"device_id": "varchar_pattern_ops"},
    )
    op.create_index(
        "ix_envelopes_sender_prefix",
        "envelopes",
        ["sender_device"],
        postgresql_ops={"sender_device": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_envelopes_sender_prefix", "envelopes")
    op.drop_index("ix_deliveries_device_prefix", "deliveries")
    op.drop_index("ix_envelopes_received_at", "envelopes")
    op.drop_index("ix_deliveries_message_id", "deliveries")
