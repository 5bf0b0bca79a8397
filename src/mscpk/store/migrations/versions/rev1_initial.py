"""Revision 1: users, projects, scenarios, runs with their result tables and files, settings."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(400), nullable=False),
        sa.Column("created_at", TZ, nullable=False))
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False))
    op.create_table(
        "project_members",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True))
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(400)),
        sa.Column("product", sa.String(400)),
        sa.Column("toml_text", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False))
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("scenario_id", sa.Integer, sa.ForeignKey("scenarios.id")),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), index=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), index=True),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("mscpk_version", sa.String(40), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("timings", sa.JSON))
    for name, payload in (("run_tables", [sa.Column("n_rows", sa.Integer, nullable=False),
                                          sa.Column("parquet", sa.LargeBinary, nullable=False)]),
                          ("run_files", [sa.Column("data", sa.LargeBinary, nullable=False)])):
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
            sa.Column("name", sa.String(200), nullable=False),
            *payload,
            sa.UniqueConstraint("run_id", "name"))
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False))


def downgrade() -> None:
    for name in ("settings", "run_files", "run_tables", "runs", "scenarios", "project_members", "projects", "users"):
        op.drop_table(name)
