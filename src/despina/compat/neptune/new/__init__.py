"""`neptune.new`: the import path of Neptune's API before 1.0, for older scripts.

    from despina.compat.neptune import new as neptune      # was: import neptune.new as neptune

    run = neptune.init(project="team/cassava", api_token=neptune.ANONYMOUS_API_TOKEN)
    run = neptune.init(project="team/cassava", run="CAS-12")   # resume CAS-12

The same objects as `despina.compat.neptune`; `new.types`, `new.utils`, `new.exceptions` and
`new.integrations.optuna` mirror `neptune.new.*`.
"""

from __future__ import annotations

import sys

from despina.compat.neptune import (
    ANONYMOUS,
    ANONYMOUS_API_TOKEN,
    Handler,
    Project,
    Run,
    __version__,
    exceptions,
    get_project,
    init,
    init_project,
    init_run,
    integrations,
    types,
    utils,
)
from despina.compat.neptune.integrations import optuna as _optuna

# `neptune.new.X` is `neptune.X`: the same module objects answer the old import paths, so nothing is
# written twice and `isinstance` checks agree whichever path a script used.
for _name, _module in {
    "exceptions": exceptions,
    "types": types,
    "utils": utils,
    "integrations": integrations,
    "integrations.optuna": _optuna,
}.items():
    sys.modules[f"{__name__}.{_name}"] = _module

__all__ = [
    "ANONYMOUS",
    "ANONYMOUS_API_TOKEN",
    "Handler",
    "Project",
    "Run",
    "__version__",
    "exceptions",
    "get_project",
    "init",
    "init_project",
    "init_run",
    "integrations",
    "types",
    "utils",
]
