"""A recursive-descent parser for runs queries.

Grammar (keywords case-insensitive; `and` binds tighter than `or`, `not` tighter than both)::

    query      := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" or_expr ")" | "exists" operand | condition
    condition  := operand ( OP value
                          | ["not"] "in" "[" value ("," value)* "]"
                          | ["not"] "contains" value
                          | ("~" | "matches") string | ("!~" | "not" "matches") string
                          | "exists" )
    operand    := path | AGG "(" path ")"          AGG := last | min | max | avg | average
    OP         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    value      := string | number | "true" | "false"

Neptune's NQL spellings are accepted too (`==`, `MATCHES`, `NOT CONTAINS`, `` `path`:type ``,
`path EXISTS`, `average(...)`), so a query written for Neptune 1.x mostly runs unchanged.
"""

from __future__ import annotations

from typing import cast

from despina.query import ast
from despina.query.lexer import Token, describe, error, tokenize

AGGREGATES: dict[str, ast.Aggregate] = {
    "last": "last",
    "min": "min",
    "max": "max",
    "avg": "avg",
    "average": "avg",
    "mean": "avg",
}


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0

    # -- tokens ------------------------------------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.token
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.token.kind == kind and (text is None or self.token.text == text)

    def expect(self, kind: str, text: str, what: str) -> Token:
        if not self.at(kind, text):
            raise self.unexpected(what)
        return self.advance()

    def unexpected(self, what: str, token: Token | None = None) -> Exception:
        token = token or self.token
        return error(f"expected {what}, found {describe(token)}", self.query, token.pos)

    # -- grammar -----------------------------------------------------------------------------------

    def parse(self) -> ast.Node:
        if self.at("end"):
            raise self.unexpected("a condition such as `train/acc > 0.9`")
        node = self.or_expr()
        if not self.at("end"):
            raise self.unexpected("'and', 'or' or the end of the query")
        return node

    def or_expr(self) -> ast.Node:
        first = self.and_expr()
        items = [first]
        while self.at("keyword", "or"):
            self.advance()
            items.append(self.and_expr())
        return first if len(items) == 1 else ast.Or(tuple(items), _pos(first))

    def and_expr(self) -> ast.Node:
        first = self.not_expr()
        items = [first]
        while self.at("keyword", "and"):
            self.advance()
            items.append(self.not_expr())
        return first if len(items) == 1 else ast.And(tuple(items), _pos(first))

    def not_expr(self) -> ast.Node:
        if self.at("keyword", "not"):
            start = self.advance()
            return ast.Not(self.not_expr(), start.pos)
        return self.primary()

    def primary(self) -> ast.Node:
        if self.at("punct", "("):
            self.advance()
            node = self.or_expr()
            self.expect("punct", ")", "')' or 'and'/'or'")
            return node
        if self.at("keyword", "exists"):
            start = self.advance()
            return ast.Exists(self.operand(allow_aggregate=False), start.pos)
        return self.condition()

    def condition(self) -> ast.Node:
        operand = self.operand(allow_aggregate=True)
        token = self.token
        if token.kind == "op":
            self.advance()
            if token.text in ("~", "!~"):
                match = ast.Match(operand, self.string("a regular expression in double quotes"), token.pos)
                return ast.Not(match, token.pos) if token.text == "!~" else match
            op = "=" if token.text == "==" else token.text
            return ast.Compare(operand, cast(ast.Comparison, op), self.value(), token.pos)
        if token.kind == "keyword":
            negated = token.text == "not" and self.peek().kind == "keyword"
            if negated:
                self.advance()
            node = self.keyword_condition(operand)
            return ast.Not(node, token.pos) if negated else node
        raise self.unexpected("an operator (=, !=, <, <=, >, >=, ~, in, contains, exists)")

    def keyword_condition(self, operand: ast.Operand) -> ast.Node:
        token = self.token
        if token.text == "in":
            self.advance()
            self.expect("punct", "[", "'[' to open the list of values")
            values = [self.value()]
            while self.at("punct", ","):
                self.advance()
                values.append(self.value())
            self.expect("punct", "]", "',' or ']'")
            return ast.In(operand, tuple(values), token.pos)
        if token.text == "contains":
            self.advance()
            return ast.Contains(operand, self.value(), token.pos)
        if token.text == "matches":
            self.advance()
            return ast.Match(operand, self.string("a regular expression in double quotes"), token.pos)
        if token.text == "exists":
            self.advance()
            if operand.aggregate is not None:
                raise error("exists takes a path, not an aggregate", self.query, operand.pos)
            return ast.Exists(operand, token.pos)
        raise self.unexpected("an operator (=, !=, <, <=, >, >=, ~, in, contains, exists)")

    def operand(self, *, allow_aggregate: bool) -> ast.Operand:
        token = self.token
        if token.kind != "path":
            raise self.unexpected("a field path such as train/loss (quote odd names in backticks)")
        self.advance()
        name = token.text.lower()
        if self.at("punct", "(") and name in AGGREGATES:
            if not allow_aggregate:
                raise error("exists takes a path, not an aggregate", self.query, token.pos)
            self.advance()
            inner = self.token
            if inner.kind != "path":
                raise self.unexpected(f"the path of a float series inside {name}(...)")
            self.advance()
            self.expect("punct", ")", f"')' to close {name}(")
            return ast.Operand(inner.text, AGGREGATES[name], token.pos)
        if self.at("punct", "("):
            raise error(
                f"{token.text!r} is not an aggregate: expected last, min, max or avg",
                self.query,
                token.pos,
            )
        return ast.Operand(token.text, None, token.pos)

    def value(self) -> ast.Literal_:
        token = self.token
        if token.kind == "string":
            self.advance()
            return ast.Literal_(token.text, token.pos)
        if token.kind == "number":
            self.advance()
            assert token.number is not None
            return ast.Literal_(token.number, token.pos)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.advance()
            return ast.Literal_(token.text == "true", token.pos)
        raise self.unexpected('a value (a "string", a number, true or false)')

    def string(self, what: str) -> ast.Literal_:
        token = self.token
        if token.kind != "string":
            raise self.unexpected(what)
        self.advance()
        return ast.Literal_(token.text, token.pos)


def _pos(node: ast.Node) -> int:
    return node.pos


def parse(query: str) -> ast.Node:
    """The syntax tree of `query`; QueryError (with the position) when it is not a valid query."""
    return _Parser(query).parse()


def parse_operand(text: str) -> ast.Operand:
    """A sort key: a path or an aggregate over one (`min(val/loss)`), as in a query."""
    parser = _Parser(text)
    operand = parser.operand(allow_aggregate=True)
    if not parser.at("end"):
        raise parser.unexpected("the end of the sort key")
    return operand
