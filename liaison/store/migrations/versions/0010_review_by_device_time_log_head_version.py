"""An officer's review list follows the officer's rows, not the period's traffic (issue 17 §3).

`deliveries.received_at` repeats the envelope's arrival time (set by every insert from now on,
filled here for the rows already stored) so that a device's deliveries of a period are one
range of `ix_deliveries_device_received`; `ix_envelopes_sender_received` does the same for
what a device sent. The review query finds the officer's devices by walking these indexes
from one device id to the next (a handful of seeks), then reads each device's range.

On PostgreSQL the device-id columns take the "C" collation: the walk compares ids with `>` and
`<` against the officer's prefix, which selects exactly the ids with that prefix only when
strings compare byte by byte (SQLite's default, BINARY, already does). Device ids are
identifiers, never sorted for display, so nothing else changes.

`log_head.version` is raised by every batch that writes (PostgreSQL): a batch of sends reads
it without locking the row, runs its jobs, and locks the row with its first write only if no
other batch committed meanwhile, so two workers no longer hold the lock while their jobs run.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_DEVICE_COLUMNS = (("deliveries", "device_id"), ("envelopes", "sender_device"))


def upgrade() -> None:
    op.add_column(
        "log_head", sa.Column("version", sa.BigInteger, nullable=False, server_default="0")
    )
    op.add_column("deliveries", sa.Column("received_at", sa.BigInteger, nullable=True))
    op.execute(
        "UPDATE deliveries SET received_at = (SELECT e.received_at FROM envelopes AS e"
        " WHERE e.message_id = deliveries.message_id)"
    )
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _DEVICE_COLUMNS:
            op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(200) COLLATE "C"')
    op.create_index("ix_deliveries_device_received", "deliveries", ["device_id", "received_at"])
    op.create_index("ix_envelopes_sender_received", "envelopes", ["sender_device", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_envelopes_sender_received", "envelopes")
    op.drop_index("ix_deliveries_device_received", "deliveries")
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _DEVICE_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(200)")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("received_at")
    with op.batch_alter_table("log_head") as batch:
        batch.drop_column("version")
