"""The project's field paths (`GET .../paths`, the column picker's and completion's list) on SQLite
and PostgreSQL: each (path, type) with the number of runs that have it, as reading every run says."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from store_conformance import atom, floats, ingest, new_run, strings
from test_query_columns import PROJECT

from despina.client.operations import AddStrings, RemoveStrings
from despina.server.routers.catalog import _paths
from despina.store.sql.store import SqlStore


def seeded(store: SqlStore) -> None:
    """Runs with atoms, series, a path whose type differs between runs, tags given at creation (no
    marker row), string sets added through operations (marker and members), and a set emptied."""
    specs: list[tuple[tuple[str, ...], list[Any]]] = [
        (
            ("best",),
            [atom("lr", 0.1), floats("loss", [0, 1], [1.0, 0.5]), AddStrings("groups", ("g", "all"))],
        ),
        ((), [atom("lr", 0.2), atom("mixed", 1), AddStrings("groups", ("all",))]),
        (("best", "x"), [atom("mixed", "one"), strings("phase", [0], ["warmup"])]),
        ((), [AddStrings("emptied", ("a",)), RemoveStrings("emptied", ("a",)), floats("loss", [0], [2.0])]),
    ]
    for number, (tags, ops) in enumerate(specs):
        run = new_run(store, name=f"r{number}", tags=tags)
        ingest(store, run, ops)


def test_each_path_counts_the_runs_that_have_it(sql_store: SqlStore) -> None:
    seeded(sql_store)
    state: Any = SimpleNamespace(store=sql_store)  # what _paths reads of the server's state
    listed = {(p.path, p.type): p.runs for p in _paths(state, PROJECT, None, 10_000)}
    rows = sql_store.query_runs(PROJECT).rows
    expected = Counter(
        (path, field.type) for row in rows for path, field in row.items() if not path.startswith("sys/")
    )
    assert {key: n for key, n in listed.items() if not key[0].startswith("sys/")} == dict(expected)
    tagged = sum(1 for row in rows if row["sys/tags"].value)
    assert listed[("sys/tags", "stringSet")] == tagged == 2
    assert listed[("sys/id", "string")] == 4
    assert listed[("mixed", "int")] == 1 and listed[("mixed", "string")] == 1
    assert listed[("groups", "stringSet")] == 2


def test_a_prefix_and_a_limit_narrow_the_list(sql_store: SqlStore) -> None:
    seeded(sql_store)
    state: Any = SimpleNamespace(store=sql_store)
    under = _paths(state, PROJECT, "gr", 10_000)
    assert [(p.path, p.type, p.runs) for p in under] == [("groups", "stringSet", 2)]
    assert len([p for p in _paths(state, PROJECT, None, 2) if not p.path.startswith("sys/")]) <= 2
