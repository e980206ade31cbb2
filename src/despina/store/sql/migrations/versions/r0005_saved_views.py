"""Saved views of a project's runs table: columns, query and sort under a name, shared by its members.

Also, on PostgreSQL, series chunks are stored without TOAST compression: they are compressed already
(zlib deltas, packed floats), and compressing them again cost two thirds of a large batch's ingest time
(bench/README.md, "Server ingest over HTTP", finding 5).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.String(256), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("project", "name"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE series_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE series_chunks ALTER COLUMN data SET STORAGE EXTENDED")
    op.drop_table("saved_views")
