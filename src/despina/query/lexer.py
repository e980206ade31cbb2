"""Tokens of the query language.

Paths are written bare (`train/loss`, letters, digits and `_ - . /`, starting with a letter or `_`) or
in backticks for anything else (`` `my metric (val)` ``, a backtick doubled inside). Strings are in
double quotes with backslash escapes; numbers are decimal, with an optional exponent, `inf` and `nan`
are not numbers (a NaN never matches a comparison). Keywords are case-insensitive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from despina.exceptions import QueryError

Kind = Literal["path", "string", "number", "op", "keyword", "punct", "end"]
KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "exists", "matches", "true", "false"})

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_BARE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_\-./]*")
_TYPE_SUFFIX = re.compile(r":[A-Za-z]+")
_OPERATORS = ("==", "!=", "<=", ">=", "!~", "=", "<", ">", "~")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "/": "/"}


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # the path, string or keyword (lower case) as read; the operator or punctuation
    pos: int
    number: float | int | None = None


def describe(token: Token) -> str:
    """A token as an error message names it."""
    if token.kind == "end":
        return "the end of the query"
    if token.kind == "string":
        return f"the string {token.text!r}"
    if token.kind == "path":
        return f"the name {token.text!r}"
    return f"{token.text!r}"


def error(message: str, query: str, pos: int) -> QueryError:
    """A QueryError naming the position (1-based column) and showing it under the query."""
    caret = " " * pos + "^"
    return QueryError(f"{message} at position {pos + 1}\n  {query}\n  {caret}", pos)


def tokenize(query: str) -> list[Token]:
    """The tokens of `query`, ending with an `end` token."""
    tokens: list[Token] = []
    pos, size = 0, len(query)
    while pos < size:
        char = query[pos]
        if char.isspace():
            pos += 1
        elif char == "`":
            pos = _backtick_path(query, pos, tokens)
        elif char == '"':
            pos = _string(query, pos, tokens)
        elif char in "()[],":
            tokens.append(Token("punct", char, pos))
            pos += 1
        elif (number := _NUMBER.match(query, pos)) and (char.isdigit() or char in "+-."):
            text = number.group()
            value: float | int = float(text) if any(c in text for c in ".eE") else int(text)
            tokens.append(Token("number", text, pos, value))
            pos = number.end()
        elif path := _BARE_PATH.match(query, pos):
            text = path.group()
            if text.lower() in KEYWORDS:
                tokens.append(Token("keyword", text.lower(), pos))
            else:
                tokens.append(Token("path", text, pos))
            pos = _skip_type_suffix(query, path.end())
        else:
            for op in _OPERATORS:
                if query.startswith(op, pos):
                    tokens.append(Token("op", op, pos))
                    pos += len(op)
                    break
            else:
                raise error(f"unexpected character {char!r}", query, pos)
    tokens.append(Token("end", "", size))
    return tokens


def _backtick_path(query: str, start: int, tokens: list[Token]) -> int:
    pos, parts = start + 1, []
    while True:
        end = query.find("`", pos)
        if end < 0:
            raise error("a path opened with ` is not closed", query, start)
        parts.append(query[pos:end])
        if query.startswith("``", end):  # a doubled backtick is one backtick of the path
            parts.append("`")
            pos = end + 2
            continue
        pos = end + 1
        break
    path = "".join(parts)
    if not path:
        raise error("an empty path ``", query, start)
    tokens.append(Token("path", path, start))
    return _skip_type_suffix(query, pos)


def _skip_type_suffix(query: str, pos: int) -> int:
    """Past a Neptune NQL type after a path (`` `lr`:float ``), which is read and ignored: a Despina
    query matches a field by the type of the value it is compared with."""
    suffix = _TYPE_SUFFIX.match(query, pos)
    return suffix.end() if suffix else pos


def _string(query: str, start: int, tokens: list[Token]) -> int:
    pos, out = start + 1, list[str]()
    while pos < len(query):
        char = query[pos]
        if char == '"':
            tokens.append(Token("string", "".join(out), start))
            return pos + 1
        if char == "\\":
            escaped = query[pos + 1 : pos + 2]
            if escaped not in _ESCAPES:
                raise error(f"unknown escape \\{escaped} in a string", query, pos)
            out.append(_ESCAPES[escaped])
            pos += 2
            continue
        out.append(char)
        pos += 1
    raise error('a string opened with " is not closed', query, start)
