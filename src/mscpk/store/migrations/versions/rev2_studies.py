"""Revision 2: imported study data (file hash, accepted and excluded rows) and the parameters
in force of each run."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:  # batch mode: SQLite cannot ALTER much
        batch.add_column(sa.Column("params", sa.LargeBinary))
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("n_accepted", sa.Integer, nullable=False),
        sa.Column("n_excluded", sa.Integer, nullable=False),
        sa.Column("accepted", sa.LargeBinary, nullable=False),
        sa.Column("excluded", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("run_id", "name"))


def downgrade() -> None:
    op.drop_table("studies")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("params")
