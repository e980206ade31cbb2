"""Neptune 1.x's API on Despina: run Neptune scripts by changing one import line.

    import despina.compat.neptune as neptune      # was: import neptune

    run = neptune.init_run(project="team/cassava", tags=["baseline"])   # or NEPTUNE_PROJECT
    run["parameters"] = {"lr": 1e-3, "optimizer": "Adam"}
    for epoch in range(10):
        run["train/accuracy"].append(acc)
    run["model/weights"].upload("model.pt")
    run.stop()

Older `neptune.new` code imports `from despina.compat.neptune import new as neptune`, which adds
`init(project=..., api_token=..., run="KEY-N")`. The submodules mirror Neptune's: `types` (File and the
value objects), `utils` (stringify_unsupported), `exceptions`, `integrations.optuna`
(NeptuneCallback). NEPTUNE_PROJECT, NEPTUNE_API_TOKEN, NEPTUNE_MODE and NEPTUNE_CUSTOM_RUN_ID are read
next to the DESPINA_* variables (which win when both are set).

Values Neptune 1.x skipped (lists, None, NaN, ints beyond 32 bits...) are skipped here too, with one
warning per field; the native API (`import despina`) raises instead. docs/neptune-compat.md lists every
difference from Neptune.
"""

from __future__ import annotations

from despina import __version__ as _despina_version
from despina.compat.neptune import exceptions, types, utils
from despina.compat.neptune._project import Project, get_project, init_project
from despina.compat.neptune._run import Handler, Run, init, init_run

ANONYMOUS_API_TOKEN = "ANONYMOUS"
ANONYMOUS = ANONYMOUS_API_TOKEN  # neptune.new's older name

# The Neptune release whose API this layer follows, with Despina's version as a local label, so that
# version checks written for neptune 1.x pass and a log still tells the two apart.
__version__ = f"1.14.0+despina.{_despina_version}"

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
    "types",
    "utils",
]
