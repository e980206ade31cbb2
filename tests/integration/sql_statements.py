"""The SQL statements a store runs inside a block, for tests that read their plans."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def statements_containing(engine: Engine, marker: str) -> Iterator[list[tuple[str, Any]]]:
    """Inside the block, the (SQL, parameters) of every statement `engine` runs whose SQL contains
    `marker`, in order."""
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if marker in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
