"""`neptune.new.utils`: the same as `despina.compat.neptune.utils`."""

from __future__ import annotations

from despina.compat.neptune.utils import stringify_unsupported

__all__ = ["stringify_unsupported"]
