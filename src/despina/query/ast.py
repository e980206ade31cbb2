"""The syntax tree of a runs query (what `parser.parse` builds and `compiler` turns into SQL).

Every node keeps `pos`, its 0-based offset in the query text, so that a type error found while
compiling can still name where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Aggregate = Literal["last", "min", "max", "avg"]
Comparison = Literal["=", "!=", "<", "<=", ">", ">="]
Value: TypeAlias = str | int | float | bool


@dataclass(frozen=True)
class Operand:
    """A field path, optionally under an aggregate over a float series (`min(val/loss)`)."""

    path: str
    aggregate: Aggregate | None
    pos: int


@dataclass(frozen=True)
class Literal_:
    """A value written in the query: a string, number or boolean."""

    value: Value
    pos: int


@dataclass(frozen=True)
class Compare:
    """`operand OP value`."""

    operand: Operand
    op: Comparison
    value: Literal_
    pos: int


@dataclass(frozen=True)
class In:
    """`operand in [v1, v2, ...]`: equal to any of the values."""

    operand: Operand
    values: tuple[Literal_, ...]
    pos: int


@dataclass(frozen=True)
class Contains:
    """`operand contains "x"`: a string set holds the value, or a string holds it as a substring."""

    operand: Operand
    value: Literal_
    pos: int


@dataclass(frozen=True)
class Match:
    """`operand ~ "regex"`: a string matches the regular expression (searched, not anchored)."""

    operand: Operand
    pattern: Literal_
    pos: int


@dataclass(frozen=True)
class Exists:
    """`exists path` (or `path exists`): the run has the field."""

    operand: Operand
    pos: int


@dataclass(frozen=True)
class Not:
    operand: Node
    pos: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]
    pos: int


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]
    pos: int


Node: TypeAlias = Compare | In | Contains | Match | Exists | Not | And | Or
