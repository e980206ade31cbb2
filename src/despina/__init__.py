"""Despina: a self-hosted experiment tracker with a Neptune-style API.

import despina
run = despina.init_run(project="team/cassava")
run["parameters"] = {"lr": 1e-3, "optimizer": "Adam"}
for epoch in range(10):
    run["train/accuracy"].append(acc)
run["model/weights"].upload("model.pt")
run.stop()
"""

from despina.client.handler import Handler
from despina.client.project import Project, RunsTable, init_project
from despina.client.run import Run, init_run
from despina.exceptions import DespinaError, DespinaWarning
from despina.types import File

__version__ = "0.1.0"

__all__ = [
    "DespinaError",
    "DespinaWarning",
    "File",
    "Handler",
    "Project",
    "Run",
    "RunsTable",
    "__version__",
    "init_project",
    "init_run",
]
