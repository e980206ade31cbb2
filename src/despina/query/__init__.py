"""The runs query language: `parse` text to a syntax tree, `compile_condition` it to SQL.

One grammar for the UI's search bar, the HTTP API (`?query=`) and `fetch_runs_table(query=...)`;
see `parser` for the grammar and `compiler` for what each condition means.
"""

from __future__ import annotations

from despina.query.ast import Node, Operand
from despina.query.parser import parse, parse_operand

__all__ = ["Node", "Operand", "parse", "parse_operand"]
