"""The query language's parser: every operator, precedence, quoting, and where errors point."""

from __future__ import annotations

import pytest

from despina.exceptions import QueryError
from despina.query import ast, parse, parse_operand


def compare(path: str, op: str, value: object, aggregate: str | None = None) -> tuple[object, ...]:
    return ("compare", path, aggregate, op, value)


def shape(node: ast.Node) -> object:
    """The tree without positions, to compare with what a reader expects."""
    if isinstance(node, ast.And):
        return ("and", *(shape(n) for n in node.items))
    if isinstance(node, ast.Or):
        return ("or", *(shape(n) for n in node.items))
    if isinstance(node, ast.Not):
        return ("not", shape(node.operand))
    if isinstance(node, ast.Compare):
        return compare(node.operand.path, node.op, node.value.value, node.operand.aggregate)
    if isinstance(node, ast.In):
        return ("in", node.operand.path, tuple(v.value for v in node.values))
    if isinstance(node, ast.Contains):
        return ("contains", node.operand.path, node.value.value)
    if isinstance(node, ast.Match):
        return ("match", node.operand.path, node.pattern.value)
    return ("exists", node.operand.path)


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison(op: str) -> None:
    assert shape(parse(f"train/acc {op} 0.9")) == compare("train/acc", op, 0.9)


def test_double_equals_is_equals() -> None:
    assert shape(parse("a == 1")) == compare("a", "=", 1)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"Adam"', "Adam"),
        ("1e-4", 1e-4),
        ("-3", -3),
        ("+2.5", 2.5),
        (".5", 0.5),
        ("7", 7),
        ("true", True),
        ("FALSE", False),
        (r'"say \"hi\"\\"', 'say "hi"\\'),
    ],
)
def test_values(text: str, value: object) -> None:
    node = parse(f"x = {text}")
    assert isinstance(node, ast.Compare)
    assert node.value.value == value and type(node.value.value) is type(value)


def test_the_issue_examples() -> None:
    assert shape(parse('parameters/optimizer = "Adam" and train/loss < 0.2')) == (
        "and",
        compare("parameters/optimizer", "=", "Adam"),
        compare("train/loss", "<", 0.2),
    )
    assert shape(
        parse('(parameters/lr >= 1e-4 and parameters/lr <= 1e-2) or sys/tags contains "baseline"')
    ) == (
        "or",
        ("and", compare("parameters/lr", ">=", 1e-4), compare("parameters/lr", "<=", 1e-2)),
        ("contains", "sys/tags", "baseline"),
    )
    assert shape(parse('not sys/state = "failed"')) == ("not", compare("sys/state", "=", "failed"))
    assert shape(parse('sys/owner in ["sophia", "li"]')) == ("in", "sys/owner", ("sophia", "li"))
    assert shape(parse('sys/name ~ "^resnet-"')) == ("match", "sys/name", "^resnet-")
    assert shape(parse("exists eval/f1")) == ("exists", "eval/f1")
    assert shape(parse("min(val/loss) < 0.3")) == compare("val/loss", "<", 0.3, "min")
    assert shape(parse('sys/creation_time > "2026-11-01"')) == compare("sys/creation_time", ">", "2026-11-01")


@pytest.mark.parametrize(
    ("name", "aggregate"),
    [("last", "last"), ("MIN", "min"), ("max", "max"), ("avg", "avg"), ("average", "avg")],
)
def test_aggregates(name: str, aggregate: str) -> None:
    assert shape(parse(f"{name}(val/loss) > 1")) == compare("val/loss", ">", 1, aggregate)


def test_and_binds_tighter_than_or_and_not_tighter_than_both() -> None:
    assert shape(parse("a = 1 or b = 2 and c = 3")) == (
        "or",
        compare("a", "=", 1),
        ("and", compare("b", "=", 2), compare("c", "=", 3)),
    )
    assert shape(parse("not a = 1 and b = 2")) == ("and", ("not", compare("a", "=", 1)), compare("b", "=", 2))
    assert shape(parse("not (a = 1 or b = 2)")) == ("not", ("or", compare("a", "=", 1), compare("b", "=", 2)))
    assert shape(parse("a = 1 AND b = 2 OR NOT c = 3")) == (
        "or",
        ("and", compare("a", "=", 1), compare("b", "=", 2)),
        ("not", compare("c", "=", 3)),
    )


def test_negated_operators() -> None:
    assert shape(parse('tags not contains "x"')) == ("not", ("contains", "tags", "x"))
    assert shape(parse("a not in [1, 2]")) == ("not", ("in", "a", (1, 2)))
    assert shape(parse('name !~ "x"')) == ("not", ("match", "name", "x"))
    assert shape(parse('name NOT MATCHES "x"')) == ("not", ("match", "name", "x"))
    assert shape(parse("eval/f1 exists")) == ("exists", "eval/f1")


def test_backtick_paths_hold_any_character() -> None:
    assert shape(parse("`my metric (val)` > 1")) == compare("my metric (val)", ">", 1)
    assert shape(parse("`a``b` = 1")) == compare("a`b", "=", 1)
    assert shape(parse("`and` = 1")) == compare("and", "=", 1)  # a keyword as a path
    assert shape(parse("max(`val loss`) < 2")) == compare("val loss", "<", 2, "max")


def test_neptune_nql_spellings() -> None:
    node = parse("(last(`accuracy`:floatSeries) > 0.88) AND (`learning_rate`:float < 0.01)")
    assert shape(node) == ("and", compare("accuracy", ">", 0.88, "last"), compare("learning_rate", "<", 0.01))
    assert shape(parse('`sys/tags`:stringSet CONTAINS "x"')) == ("contains", "sys/tags", "x")
    assert shape(parse('`name`:string MATCHES "^a"')) == ("match", "name", "^a")


def test_sort_keys() -> None:
    assert parse_operand("min(val/loss)") == ast.Operand("val/loss", "min", 0)
    assert parse_operand("sys/creation_time").aggregate is None


@pytest.mark.parametrize(
    ("query", "position", "expected"),
    [
        ("a >", 4, "expected a value"),
        ("a > 1 and", 10, "expected a field path"),
        ("(a = 1", 7, "expected ')'"),
        ("a = 1 b = 2", 7, "expected 'and', 'or'"),
        ("a 1", 3, "expected an operator"),
        ('a = "open', 5, "not closed"),
        ("`open = 1", 1, "not closed"),
        ("a = 1 & b = 2", 7, "unexpected character '&'"),
        ("median(x) > 1", 1, "not an aggregate"),
        ("a in [1, 2", 11, "expected ',' or ']'"),
        ("a in 1", 6, "expected '['"),
        ("", 1, "expected a condition"),
        ("a ~ 1", 5, "regular expression"),
        ("exists min(x)", 8, "not an aggregate"),
        (r'a = "\q"', 6, "unknown escape"),
    ],
)
def test_errors_name_the_position_and_what_was_expected(query: str, position: int, expected: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    message = str(caught.value)
    assert expected in message
    assert f"at position {position}" in message
    assert caught.value.position == position - 1
    assert isinstance(caught.value, ValueError)
