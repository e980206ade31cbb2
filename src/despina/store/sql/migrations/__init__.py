"""Alembic migrations of the SQL store (run them through `despina.store.sql.migrate`, not alembic.ini).

`env.py` takes the connection that `migrate.upgrade` opened (its `config.attributes["connection"]`),
so every pending revision runs inside one transaction. Revisions live in `versions/`, one file each,
named `rNNNN_<what>.py` with `revision = "NNNN"`; they spell out their tables with `op.create_table`
instead of importing `schema.py`, whose metadata is always the newest shape.

To add a revision: copy the newest file, bump the number, set `down_revision` to the previous one,
write the change, update `schema.py` to match and `migrate.HEAD_REVISION` to the new number. The
tests compare the migrated database with `schema.metadata`.
"""
