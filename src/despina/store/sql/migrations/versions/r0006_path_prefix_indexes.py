"""On PostgreSQL, indexes on paths in bytewise ("C") order.

A runs-table column may name a namespace (`parameters` stands for every `parameters/...` path), which
the store finds with a range `path COLLATE "C" > 'ns/' AND path COLLATE "C" < 'ns0'`: in bytewise
order exactly the paths under `ns/` lie there, whatever the database's collation. The `(path, ...)`
indexes are in the database's collation, so that range scanned whole tables: 30 columns over 10,000
runs took 3-5 s per page. These indexes serve it. SQLite compares bytewise already.

They exist only on PostgreSQL and only here (like revision 0005's STORAGE EXTERNAL): `schema.py`
describes what both databases share.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# Index name -> table; the names are listed in schema.POSTGRESQL_ONLY_INDEXES.
PATH_BYTEWISE_INDEXES = {
    "fields_path_bytewise": "fields",
    "series_path_bytewise": "series",
    "string_set_items_path_bytewise": "string_set_items",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in PATH_BYTEWISE_INDEXES.items():
            op.execute(f'CREATE INDEX {name} ON {table} ((path COLLATE "C"))')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PATH_BYTEWISE_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
