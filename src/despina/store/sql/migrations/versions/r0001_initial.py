"""The first schema: projects, runs, fields, string sets, series and their chunks, writers.

Revision ID: 0001
Revises: (none)

Exactly the tables that Despina created with `metadata.create_all` before it used Alembic (with
`schema_info` at version 1), so a database from then is stamped at this revision and upgraded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    schema_info = op.create_table("schema_info", sa.Column("version", sa.Integer, nullable=False))
    op.bulk_insert(schema_info, [{"version": 1}])

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("key", sa.String(16), nullable=False, unique=True),
        sa.Column("run_counter", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("short_id", sa.String(32), nullable=False),
        sa.Column("custom_run_id", sa.String(128)),
        sa.Column("creation_token", sa.String(128), unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failed", sa.Boolean, nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
        sa.Column("modification_time", sa.Float, nullable=False),
        sa.Column("ping_time", sa.Float),
        sa.Column("fork_parent_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("fork_step", sa.Float),
        sa.UniqueConstraint("project_id", "number"),
        sa.UniqueConstraint("project_id", "short_id"),
        sa.UniqueConstraint("project_id", "custom_run_id"),
    )
    op.create_table(
        "fields",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("float_value", sa.Float),
        sa.Column("int_value", sa.BigInteger),
        sa.Column("text_value", sa.Text),
    )
    op.create_index("fields_path", "fields", ["path", "float_value"])
    op.create_table(
        "string_set_items",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("value", sa.Text, primary_key=True),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("point_count", sa.BigInteger, nullable=False),
        sa.Column("last_step", sa.Float),
        sa.Column("last_timestamp", sa.Float),
        sa.Column("last_float", sa.Float),
        sa.Column("last_text", sa.Text),
        sa.Column("min_value", sa.Float),
        sa.Column("max_value", sa.Float),
        sa.Column("sum_value", sa.Float),
        sa.Column("finite_count", sa.BigInteger, nullable=False),
        sa.Column("inherit", sa.Boolean, nullable=False),
        sa.UniqueConstraint("run_id", "path"),
    )
    op.create_table(
        "series_chunks",
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), primary_key=True),
        sa.Column("chunk_no", sa.Integer, primary_key=True),
        sa.Column("first_step", sa.Float, nullable=False),
        sa.Column("last_step", sa.Float, nullable=False),
        sa.Column("point_count", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "writers",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("writer_id", sa.String(128), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("writers", "series_chunks", "series", "string_set_items", "fields", "runs", "projects"):
        op.drop_table(table)
    op.drop_table("schema_info")
