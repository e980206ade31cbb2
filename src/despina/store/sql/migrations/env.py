"""Alembic environment: run the revisions on the connection that `despina.store.sql.migrate` passes in.

No database URL is read here and no transaction is begun: the caller holds the connection inside a
transaction (and a lock), so all pending revisions commit together or not at all.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection


def run_migrations() -> None:
    if context.is_offline_mode():
        raise RuntimeError("Despina's migrations run on a live connection only (no offline SQL scripts)")
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run Despina's migrations through despina.store.sql.migrate.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=None,
        transactional_ddl=True,  # SQLite too: DDL is transactional there, and the caller opened one
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
