"""Each relay witnesses its peers' logs (PROTOCOL.md §16.7): per peer, the newest checkpoint of
the peer's log this relay cosigned, and, once the peer showed a checkpoint that does not extend
it, when and why the peer was distrusted with the evidence (a §13 misbehaviour document).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = (
    ("cosigned_checkpoint", sa.Text),
    ("cosigned_size", sa.BigInteger),
    ("cosigned_at", sa.BigInteger),
    ("distrusted_at", sa.BigInteger),
    ("distrust_reason", sa.Text),
    ("misbehaviour", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        for name, _kind in reversed(COLUMNS):
            batch.drop_column(name)
