"""Names of the field types, as stored and as shown (they match Neptune's server names)."""

from __future__ import annotations

from typing import Final

FLOAT: Final = "float"
INT: Final = "int"
BOOL: Final = "bool"
STRING: Final = "string"
DATETIME: Final = "datetime"
FILE: Final = "file"
FILE_SET: Final = "fileSet"
STRING_SET: Final = "stringSet"
FLOAT_SERIES: Final = "floatSeries"
STRING_SERIES: Final = "stringSeries"
FILE_SERIES: Final = "fileSeries"
ARTIFACT: Final = "artifact"  # tracked files: a set hash and a file list, contents not uploaded

ATOM_TYPES: Final = frozenset({FLOAT, INT, BOOL, STRING, DATETIME})
SERIES_TYPES: Final = frozenset({FLOAT_SERIES, STRING_SERIES, FILE_SERIES})
ALL_TYPES: Final = ATOM_TYPES | SERIES_TYPES | {FILE, FILE_SET, STRING_SET, ARTIFACT}
