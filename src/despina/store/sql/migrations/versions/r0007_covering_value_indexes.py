"""On PostgreSQL, the value indexes of fields and series carry the run and the type (`INCLUDE`).

A filter such as `p/f0 > 0.5 and min(m/s1) < 0.5` reads a set of runs per condition from the
`(path, value)` indexes. Without the run key and the type in the index, each match costs a visit to
the table's heap, and a path's rows lie on every heap page (a run's fields are written together):
one condition over 10,000 runs visited 3,755 heap pages, and the planner then probed the second
condition run by run. Covered, each set is an index-only scan and the sets are hash-joined: the
issue's filter page went from 28 to 17 ms of SQL (bench/bench_query.py, after VACUUM ANALYZE).

SQLite is left as it is: its plans drive from the smallest set and probe the others by primary key
(see `query.run_sets`), which covering indexes do not change (measured: within noise).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# (name, table, value column): spelled out here, not imported from schema.py (see migrations/__init__.py).
VALUE_INDEXES = (
    ("fields_path", "fields", "float_value"),
    ("fields_path_int", "fields", "int_value"),
    ("series_path_last", "series", "last_float"),
    ("series_path_min", "series", "min_value"),
    ("series_path_max", "series", "max_value"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, column in VALUE_INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, ["path", column], postgresql_include=["run_id", "type"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, column in VALUE_INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, ["path", column])
