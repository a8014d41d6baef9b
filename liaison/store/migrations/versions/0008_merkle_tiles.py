"""The Merkle tree kept as tiles in the database (issue 17 §3), and indexes for the review
list, the audit export and the retention purge at scale.

- `merkle_tiles`: full tiles of 256 hashes per tree level 8L (C2SP tlog-tiles layout, see
  liaison/store/tiles.py), filled here for an existing log in batches, so that the relay reads
  a few tiles at start instead of every leaf hash.
- `ix_envelopes_live_received_at`: envelopes still holding ciphertext by arrival time
  (retention's candidates), a partial index on PostgreSQL and SQLite.
- `ix_deliveries_waiting`: a device's unacknowledged deliveries by cursor (the inbox), a
  partial index.
- `ix_deliveries_message_device` replaces `ix_deliveries_message_id`: the recipients of an
  envelope with their device ids, so that "delivered to a device of this agency / officer" is
  answered from the index alone for each envelope of a time range.
- `ix_envelopes_sender_prefix` and `ix_deliveries_device_prefix` (revision 0004) are dropped:
  the review list and the audit export start from the time range, and these indexes only let
  PostgreSQL choose to read an agency's or an officer's whole history (one index fewer per
  envelope and per delivery written).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from crypto.merkle import TileEdge

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FILL_CHUNK = 65_536  # leaf hashes read per statement while filling the tiles


def upgrade() -> None:
    op.create_table(
        "merkle_tiles",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "ix_envelopes_live_received_at",
        "envelopes",
        ["received_at"],
        postgresql_where=sa.text("purged_at IS NULL"),
        sqlite_where=sa.text("purged_at IS NULL"),
    )
    op.create_index(
        "ix_deliveries_waiting",
        "deliveries",
        ["device_id", "cursor"],
        postgresql_where=sa.text("acknowledged_at IS NULL"),
        sqlite_where=sa.text("acknowledged_at IS NULL"),
    )
    op.create_index("ix_deliveries_message_device", "deliveries", ["message_id", "device_id"])
    op.drop_index("ix_deliveries_message_id", "deliveries")
    op.drop_index("ix_envelopes_sender_prefix", "envelopes")
    op.drop_index("ix_deliveries_device_prefix", "deliveries")
    _fill_tiles(op.get_bind())


def _fill_tiles(bind: sa.engine.Connection) -> None:
    size = bind.execute(sa.text("SELECT size FROM log_head WHERE id = 1")).scalar()
    if not size:
        return
    edge = TileEdge()
    insert = sa.text("INSERT INTO merkle_tiles (level, idx, hashes) VALUES (:level, :idx, :h)")
    read = sa.text("SELECT leaf_hash FROM log_entries WHERE idx >= :lo AND idx < :hi ORDER BY idx")
    for lo in range(0, size, FILL_CHUNK):
        hi = min(size, lo + FILL_CHUNK)
        done = []
        for (h,) in bind.execute(read, {"lo": lo, "hi": hi}):
            done += edge.append(bytes(h))
        if edge.size != hi:
            raise RuntimeError(f"log entries {lo}..{hi} are incomplete: cannot fill the tiles")
        if done:
            bind.execute(insert, [{"level": lv, "idx": i, "h": h} for lv, i, h in done])


def downgrade() -> None:
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
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])
    op.drop_index("ix_deliveries_message_device", "deliveries")
    op.drop_index("ix_deliveries_waiting", "deliveries")
    op.drop_index("ix_envelopes_live_received_at", "envelopes")
    op.drop_table("merkle_tiles")
