"""A field may keep part of its value in a blob: `fields.blob_sha256`, the content-addressed document
that holds an artifact's file list (tracked files; up to hundreds of thousands of entries, too many
for the row, which keeps the set hash, file count and total size).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("fields", sa.Column("blob_sha256", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("fields") as batch:
        batch.drop_column("blob_sha256")
