"""The query language against real databases (SQLite and PostgreSQL): the issue's examples, sorting
and paging, a property test against the same predicate evaluated in Python, and query plans."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import count
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sql_statements import statements_containing
from sqlalchemy import event
from store_conformance import PROJECT, atom, floats, ingest, new_run, strings

from despina.client import field_types as ft
from despina.exceptions import QueryError
from despina.store.sql import store as store_module
from despina.store.sql.runs_query import SORT_KEY_LABEL
from despina.store.sql.store import SqlStore


@pytest.fixture
def store(sql_store: SqlStore) -> SqlStore:
    """The store on SQLite and on PostgreSQL (conftest's `sql_store`)."""
    return sql_store


def ids(store: SqlStore, query: str | None = None, project: str = PROJECT, **kwargs: Any) -> list[str]:
    page = store.query_runs(project, query=query, columns=["sys/id"], **kwargs)
    return [str(row["sys/id"].value) for row in page.rows]


@pytest.fixture
def zoo(store: SqlStore) -> dict[str, str]:
    """Five runs with parameters, results, tags and series, named by what they are."""
    made: dict[str, str] = {}
    specs = [
        ("adam-best", "resnet-50", "sophia", ("baseline",), 1e-3, "Adam", [0.9, 0.4, 0.15], 0.95),
        ("sgd", "resnet-18", "li", (), 1e-1, "SGD", [0.8, 0.5, 0.35], 0.7),
        ("adam-nan", "vit-b", "li", ("baseline", "vit"), 1e-2, "Adam", [0.7, 0.25, math.nan], math.nan),
        ("tiny-lr", "vit-s", "ana", (), 1e-5, "Adam", [0.6, 0.55], 0.5),
        ("no-series", "mlp", "ana", (), 3e-4, "RMSprop", None, None),
    ]
    for key, name, owner, tags, lr, optimizer, losses, acc in specs:
        run = new_run(store, name=name, owner=owner, tags=tags)
        ops: list[Any] = [atom("parameters/lr", lr), atom("parameters/optimizer", optimizer)]
        if losses is not None:
            ops.append(floats("val/loss", range(len(losses)), losses))
            ops.append(floats("train/acc", [0], [acc]))
        ops.append(atom("parameters/epochs", len(key)))
        if key == "adam-best":
            ops.append(atom("eval/f1", 0.91))
            ops.append(atom("notes/summary", "the best run, with Adam"))
            ops.append(atom("sys/failed", True))
            ops.append(atom("data/seen", datetime(2026, 11, 5, tzinfo=timezone.utc)))
            ops.append(strings("train/phase", [0, 1], ["warmup", "main"]))
        ingest(store, run, ops)
        made[key] = run.id
    return made


def keys(zoo: dict[str, str], found: list[str]) -> set[str]:
    by_id = {v: k for k, v in zoo.items()}
    return {by_id[i] for i in found}


def test_the_issue_examples(store: SqlStore, zoo: dict[str, str]) -> None:
    def q(text: str) -> set[str]:
        return keys(zoo, ids(store, text))

    assert q("train/acc > 0.9") == {"adam-best"}
    assert q('parameters/optimizer = "Adam" and val/loss < 0.2') == {"adam-best"}
    assert q('(parameters/lr >= 1e-4 and parameters/lr <= 1e-2) or sys/tags contains "baseline"') == {
        "adam-best",
        "adam-nan",
        "no-series",
    }
    assert q('not sys/state = "failed"') == set(zoo)
    assert q('sys/state = "running"') == set(zoo)
    assert q('sys/owner in ["sophia", "li"]') == {"adam-best", "sgd", "adam-nan"}
    assert q('sys/name ~ "^resnet-"') == {"adam-best", "sgd"}
    assert q("exists eval/f1") == {"adam-best"}
    assert q("min(val/loss) < 0.3") == {"adam-best", "adam-nan"}
    assert q("max(val/loss) >= 0.8") == {"adam-best", "sgd"}
    assert q("avg(val/loss) < 0.48") == {"adam-nan"}  # (0.7 + 0.25) / 2: NaN is left out of the mean
    assert q('sys/creation_time > "2020-01-01"') == set(zoo)
    assert q('sys/creation_time < "2020-01-01T00:00:00Z"') == set()
    assert q('data/seen > "2026-11-01"') == {"adam-best"}
    assert q('data/seen < "2026-11-01"') == set()
    assert q("sys/failed = true") == {"adam-best"}
    assert q("parameters/epochs = 3") == {"sgd"}  # an int atom
    assert q('notes/summary contains "Adam"') == {"adam-best"}
    assert q('notes/summary contains "adam"') == set()  # case-sensitive
    assert q('train/phase = "main"') == {"adam-best"}  # a string series by its last value
    assert q('sys/tags contains "vit" or sys/name ~ "mlp"') == {"adam-nan", "no-series"}
    assert q("not exists val/loss") == {"no-series"}
    assert q('`parameters/optimizer`:string = "SGD"') == {"sgd"}


def test_nan_never_matches_a_comparison(store: SqlStore, zoo: dict[str, str]) -> None:
    def q(text: str) -> set[str]:
        return keys(zoo, ids(store, text))

    # adam-nan's last val/loss and its train/acc are NaN: no comparison matches them, not even !=.
    assert "adam-nan" not in q("val/loss != 0.5") | q("val/loss < 100") | q("val/loss > -100")
    assert "adam-nan" not in q("train/acc != 1")
    assert "adam-nan" in q("not train/acc != 1")  # `not` matches exactly what the condition does not
    assert q("train/acc = 0.5 or not train/acc = 0.5") == set(zoo)


def test_type_errors_name_the_position(store: SqlStore, zoo: dict[str, str]) -> None:
    cases = [
        ('min(val/loss) < "low"', 17, "is a number"),
        ("sys/name = 3", 12, "is a string"),
        ('sys/creation_time > "yesterday"', 21, "date and time"),
        ('sys/state = "stopped"', 13, "expected a run state"),
        ('sys/state < "running"', 1, "sys/state takes"),
        ('sys/tags = "x"', 1, "use sys/tags contains"),
        ('x ~ "("', 5, "not a valid regular expression"),
        ("x contains 3", 12, 'contains takes a "string"'),
    ]
    for query, position, expected in cases:
        with pytest.raises(QueryError, match=expected) as caught:
            ids(store, query)
        assert f"at position {position}" in str(caught.value), query


def test_sorting_by_fields_series_and_aggregates(store: SqlStore, zoo: dict[str, str]) -> None:
    def order(sort_by: str, ascending: bool = True) -> list[str]:
        by_id = {v: k for k, v in zoo.items()}
        return [by_id[i] for i in ids(store, sort_by=sort_by, ascending=ascending)]

    assert order("parameters/lr") == ["tiny-lr", "no-series", "adam-best", "adam-nan", "sgd"]
    assert order("parameters/lr", False) == ["sgd", "adam-nan", "adam-best", "no-series", "tiny-lr"]
    # A series by its last value; runs without it (or with a NaN there) last in both directions.
    assert order("val/loss") == ["adam-best", "sgd", "tiny-lr", "adam-nan", "no-series"]
    assert order("val/loss", False)[:3] == ["tiny-lr", "sgd", "adam-best"]
    assert order("min(val/loss)") == ["adam-best", "adam-nan", "sgd", "tiny-lr", "no-series"]
    assert order("sys/name") == ["no-series", "sgd", "adam-best", "adam-nan", "tiny-lr"]
    assert order("parameters/optimizer")[:3] == ["adam-best", "adam-nan", "tiny-lr"]
    assert order("sys/id", False) == ["no-series", "tiny-lr", "adam-nan", "sgd", "adam-best"]
    assert order("sys/creation_time", False) == order("sys/id", False)  # the default: newest first


def test_cursor_pages_through_every_run_once_in_order(store: SqlStore) -> None:
    made = []
    for i in range(11):
        run = new_run(store, name=f"r{i}")
        ingest(store, run, [atom("score", float(i % 4))] if i != 5 else [])  # ties, and one without
        made.append(run.id)
    for ascending in (True, False):
        whole = [i for i in ids(store, sort_by="score", ascending=ascending) if i in made]
        pages, cursor = [], None
        while True:
            page = store.query_runs(PROJECT, sort_by="score", ascending=ascending, limit=3, cursor=cursor)
            pages.append([row["sys/id"].value for row in page.rows])
            cursor = page.next_cursor
            if cursor is None:
                break
            new_run(store, name="made while paging")  # a new run does not shift the pages
        paged = [i for page in pages for i in page]
        assert len(set(paged)) == len(paged)  # no run twice
        # The runs made before paging came in order, with those made meanwhile among them.
        assert [i for i in paged if i in made] == whole
        assert whole[-1] == made[5]  # without a score: last, whichever the direction
    with pytest.raises(QueryError, match="another query or sort"):
        first = store.query_runs(PROJECT, sort_by="score", limit=2)
        store.query_runs(PROJECT, sort_by="sys/name", limit=2, cursor=first.next_cursor)


def test_columns_are_projected_in_sql(store: SqlStore, zoo: dict[str, str]) -> None:
    page = store.query_runs(PROJECT, query="exists eval/f1", columns=["parameters", "val/loss", "sys/tags"])
    (row,) = page.rows
    assert set(row) == {
        "sys/id",
        "sys/tags",
        "parameters/lr",
        "parameters/optimizer",
        "parameters/epochs",
        "val/loss",
    }
    assert row["sys/tags"].value == {"baseline"}
    assert row["val/loss"].value.last == 0.15


# -- property: SQL equals the predicate evaluated in Python -----------------------------------------

VALUES = [-1.0, 0.0, 0.25, 0.5, 1.0, 2.0]
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class FakeRun:
    x: float | int | None = None  # an int or float atom (maybe NaN), or missing
    name: str | None = None
    tags: frozenset[str] = frozenset()
    loss: list[float] | None = None
    id: str = field(default="")


Predicate = Callable[[FakeRun], bool]


def _num(value: float | int | None, op: str, target: float) -> bool:
    return value is not None and not math.isnan(value) and OPS[op](value, target)


def _finite(run: FakeRun) -> list[float]:
    return [v for v in run.loss or [] if not math.isnan(v)]


AGGREGATES: dict[str, Callable[[FakeRun], float | None]] = {
    "last": lambda r: r.loss[-1] if r.loss else None,
    "min": lambda r: min(_finite(r)) if _finite(r) else None,
    "max": lambda r: max(_finite(r)) if _finite(r) else None,
    "avg": lambda r: sum(_finite(r)) / len(_finite(r)) if _finite(r) else None,
}

ops_st = st.sampled_from(list(OPS))
value_st = st.sampled_from(VALUES)


def _leaf() -> st.SearchStrategy[tuple[str, Predicate]]:
    number = st.builds(lambda op, v: (f"x {op} {v}", lambda r: _num(r.x, op, v)), ops_st, value_st)
    text = st.builds(
        lambda op, s: (f'name {op} "{s}"', lambda r: r.name is not None and OPS[op](r.name, s)),
        ops_st,
        st.sampled_from(["a", "ab", "b"]),
    )
    tag = st.builds(
        lambda t: (f'sys/tags contains "{t}"', lambda r: t in r.tags), st.sampled_from(["t1", "t2"])
    )
    aggregate = st.builds(
        lambda agg, op, v: (f"{agg}(loss) {op} {v}", lambda r: _num(AGGREGATES[agg](r), op, v)),
        st.sampled_from(list(AGGREGATES)),
        ops_st,
        value_st,
    )
    series_last = st.builds(
        lambda op, v: (f"loss {op} {v}", lambda r: _num(AGGREGATES["last"](r), op, v)), ops_st, value_st
    )
    exists = st.sampled_from(
        [
            ("exists x", lambda r: r.x is not None),
            ("exists loss", lambda r: bool(r.loss)),
            ("exists name", lambda r: r.name is not None),
        ]
    )
    member = st.builds(
        lambda vs: (f"x in [{', '.join(map(str, vs))}]", lambda r: any(_num(r.x, "=", v) for v in vs)),
        st.lists(value_st, min_size=1, max_size=3),
    )
    regex = st.sampled_from(
        [
            ('name ~ "^a"', lambda r: r.name is not None and r.name.startswith("a")),
            ('name ~ "b$"', lambda r: r.name is not None and r.name.endswith("b")),
        ]
    )
    return st.one_of(number, text, tag, aggregate, series_last, exists, member, regex)


def _combine(children: st.SearchStrategy[tuple[str, Predicate]]) -> st.SearchStrategy[tuple[str, Predicate]]:
    def both(a: tuple[str, Predicate], b: tuple[str, Predicate], word: str) -> tuple[str, Predicate]:
        if word == "and":
            return (f"({a[0]}) and ({b[0]})", lambda r: a[1](r) and b[1](r))
        return (f"({a[0]}) or ({b[0]})", lambda r: a[1](r) or b[1](r))

    return st.one_of(
        st.builds(lambda a: (f"not ({a[0]})", lambda r: not a[1](r)), children),
        st.builds(both, children, children, st.sampled_from(["and", "or"])),
    )


queries = st.recursive(_leaf(), _combine, max_leaves=5)
number_st = st.one_of(
    st.none(),
    st.sampled_from([*VALUES, math.nan]),
    st.sampled_from([-1, 0, 1, 2]),
)
runs_st = st.lists(
    st.builds(
        FakeRun,
        x=number_st,
        name=st.one_of(st.none(), st.sampled_from(["a", "ab", "b", "ba"])),
        tags=st.frozensets(st.sampled_from(["t1", "t2"])),
        loss=st.one_of(st.none(), st.lists(st.sampled_from([*VALUES, math.nan]), min_size=1, max_size=4)),
    ),
    min_size=1,
    max_size=6,
)
_projects = count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=runs_st, queries=st.lists(queries, min_size=1, max_size=4))
def test_a_query_selects_the_runs_its_predicate_holds_for(
    store: SqlStore, runs: list[FakeRun], queries: list[tuple[str, Predicate]]
) -> None:
    project = f"prop/p{next(_projects)}"
    for fake in runs:
        info = new_run(store, project=project, tags=tuple(sorted(fake.tags)))
        fake.id = info.id
        ops: list[Any] = []
        if fake.x is not None:
            ops.append(atom("x", fake.x, ft.INT if isinstance(fake.x, int) else ft.FLOAT))
        if fake.name is not None:
            ops.append(atom("name", fake.name))
        if fake.loss is not None:
            ops.append(floats("loss", range(len(fake.loss)), fake.loss))
        ingest(store, info, ops)
    for text, predicate in queries:
        expected = {fake.id for fake in runs if predicate(fake)}
        assert set(ids(store, text, project=project)) == expected, text


# -- plans ----------------------------------------------------------------------------------------------


def test_reading_one_series_never_scans_the_points_table(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = new_run(store)
    ingest(store, run, [floats("loss", np.arange(25_000.0), np.linspace(1, 0, 25_000))])
    other = new_run(store)
    ingest(store, other, [floats("loss", np.arange(100.0))])
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "series_chunks" in statement and not statement.startswith("EXPLAIN"):
            statements.append((statement, parameters))

    # On PostgreSQL chunks are read through psycopg's binary cursor, past SQLAlchemy's events.
    read_chunks = store_module._chunk_rows

    def recorded_chunk_rows(conn: Any, statement: Any) -> Any:
        if conn.dialect.name == "postgresql":
            compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
            statements.append((str(compiled), compiled.params))
        return read_chunks(conn, statement)

    monkeypatch.setattr(store_module, "_chunk_rows", recorded_chunk_rows)
    event.listen(store.read_engine, "before_cursor_execute", record)
    try:
        assert len(store.series(PROJECT, run.id, "loss").steps) == 25_000
        assert len(store.series(PROJECT, run.id, "loss", (100.0, 200.0)).steps) == 101
        assert not store.series_buckets(PROJECT, run.id, "loss", buckets=50, step_range=(0, 20_000)).exact
    finally:
        event.remove(store.read_engine, "before_cursor_execute", record)
    assert len(statements) >= 3
    sqlite = store.read_engine.dialect.name == "sqlite"
    with store.read_engine.connect() as conn:
        if not sqlite:
            # Tables this small are cheaper to scan than to search: the planner must be told to
            # prefer an index if it has one, which is what this test checks.
            conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = "\n".join(str(row[-1]) for row in conn.exec_driver_sql(prefix + statement, parameters))
            assert "series_chunks" in plan or "chunks" in plan or not sqlite, plan
            if sqlite:
                assert "SCAN series_chunks" not in plan, plan
            else:
                assert "Seq Scan on series_chunks" not in plan, plan


def test_filter_on_a_field_uses_the_index(store: SqlStore, zoo: dict[str, str]) -> None:
    with statements_containing(store.read_engine, SORT_KEY_LABEL) as statements:
        ids(store, 'sys/tags contains "baseline" and min(val/loss) < 0.3', sort_by="parameters/lr")
    ((statement, parameters),) = statements
    if store.read_engine.dialect.name == "sqlite":
        with store.read_engine.connect() as conn:
            plan = [
                str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
        # The runs of the project by index, and each correlated lookup by primary key or index.
        assert not any(line.startswith("SCAN") and "runs" not in line for line in plan), plan


def test_the_smallest_set_of_runs_drives_the_query(store: SqlStore) -> None:
    """A conjunction reads its most selective condition's rows from their index and tests only the
    runs those name for the other conditions, whichever order the query writes them in."""
    made = []
    for i in range(30):
        run = new_run(store, name=f"r{i}", tags=("rare",) if i == 7 else ())
        ingest(store, run, [atom("x", float(i)), floats("loss", range(3), [1.0, 0.5, i / 10])])
        made.append(run.id)
    with statements_containing(store.read_engine, SORT_KEY_LABEL) as statements:
        found = ids(store, 'x >= 0 and min(loss) < 1 and sys/tags contains "rare"', sort_by="loss")
        assert ids(store, "x > 4 and x < 9 and not x = 6", sort_by="x", ascending=True) == [
            made[i] for i in (5, 7, 8)
        ]
    assert found == [made[7]]
    statement, parameters = statements[0]
    if store.read_engine.dialect.name == "sqlite":
        with store.read_engine.connect() as conn:
            plan = [
                str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
        # The tag's rows are read once (a list), the field and the series probed per run left.
        assert any("SEARCH string_set_items USING INDEX string_set_items_path_value" in p for p in plan), plan
        assert sum("CORRELATED" in p for p in plan) == 3, plan  # x: its fields row, or its series
        assert not any("series_path_min" in p or "fields_path" in p for p in plan), plan


def test_an_int_field_meets_a_fractional_or_huge_bound(store: SqlStore) -> None:
    by_value = {}
    for value in (-3, 0, 1, 2):
        run = new_run(store)
        ingest(store, run, [atom("n", value, ft.INT)])
        by_value[run.id] = value

    def q(text: str) -> list[int]:
        return sorted(by_value[i] for i in ids(store, text))

    assert q("n > 0.5") == [1, 2]
    assert q("n >= 0.5") == [1, 2]
    assert q("n < 0.5") == [-3, 0]
    assert q("n <= -2.5") == [-3]
    assert q("n = 1.5") == []
    assert q("n != 1.5") == [-3, 0, 1, 2]
    assert q("n = 2.0") == [2]
    assert q("n < 1e300") == [-3, 0, 1, 2]
    assert q("n > 1e300") == []
    assert q("n > -1e300 and not n = 0") == [-3, 1, 2]
