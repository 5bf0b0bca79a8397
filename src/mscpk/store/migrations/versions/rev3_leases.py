"""Revision 3: worker leases. A claimed run records its worker's last heartbeat and how many
times it was claimed, so that a run whose worker died is re-queued once, then failed."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:  # batch mode: SQLite cannot ALTER much
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    # a run left running by a worker of revision 2 was claimed once; its lease starts at its
    # start, so that the first claim after the upgrade re-queues it if it is stuck
    op.execute(sa.text("UPDATE runs SET heartbeat_at = started_at, attempts = 1 "
                       "WHERE status = 'running' AND started_at IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("heartbeat_at")
