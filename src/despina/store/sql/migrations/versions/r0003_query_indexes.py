"""Indexes for the query language, the runs table and series reads.

- runs: a project's runs in creation order (the runs table's default sort and its keyset cursor), and
  by owner and state (the table's filters);
- fields: atoms by path and int value (ints, bools, datetimes; floats already have `fields_path`);
- series: a path's series by last value, minimum and maximum (filters and sorts on aggregates);
- string_set_items: runs having a value in a set (`sys/tags contains "x"`);
- series_chunks: a series' chunks by step range (charts zoomed in read only the chunks in view).

Text values of fields are not indexed: PostgreSQL refuses index rows over about 2.7 kB, and a long
string atom must never fail to be stored.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# (name, table, columns): spelled out here, not imported from schema.py (see migrations/__init__.py).
INDEXES = (
    ("runs_project_creation", "runs", ["project_id", "creation_time", "id"]),
    ("runs_project_owner", "runs", ["project_id", "owner"]),
    ("runs_project_state", "runs", ["project_id", "state"]),
    ("fields_path_int", "fields", ["path", "int_value"]),
    ("series_path_last", "series", ["path", "last_float"]),
    ("series_path_min", "series", ["path", "min_value"]),
    ("series_path_max", "series", ["path", "max_value"]),
    ("string_set_items_path_value", "string_set_items", ["path", "value"]),
    ("series_chunks_steps", "series_chunks", ["series_id", "last_step", "first_step"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
