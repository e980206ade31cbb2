"""Moving a project out of Despina and back: `despina export` and `despina import despina`.

An export is plain Parquet plus the files' content (see `format.py`), so the data can be read
without Despina; importing it reproduces every field, point and file in any store. Needs pyarrow:
`pip install "despina[transfer]"`.
"""

from despina.transfer.export import ExportSummary, export_project
from despina.transfer.format import FORMAT_VERSION, TransferError
from despina.transfer.import_despina import ImportSummary, import_directory

__all__ = [
    "FORMAT_VERSION",
    "ExportSummary",
    "ImportSummary",
    "TransferError",
    "export_project",
    "import_directory",
]
