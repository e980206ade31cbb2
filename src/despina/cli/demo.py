"""`despina demo`: the example Kedro + Optuna pipeline run a few times, or one small script.

`despina demo` copies examples/kedro-optuna to a temporary folder and runs `kedro run` there a few
times with different parameters; the Kedro plugin makes each one a run of the embedded store (or of
DESPINA_URL's server). `despina demo --script` is the four-line workflow on one scikit-learn model.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from despina.config import LOCAL_UI_URL


def _fields_table(run: Any) -> Table:
    from despina.client import field_types as ft

    table = Table("field", "type", "value", title=f"run {run.id}")
    for path, field in run._read_fields(None).items():
        value = field.value
        if field.type in ft.SERIES_TYPES:
            shown = f"{value.last!r} (last of {value.count}, step {value.last_step:g})"
            if field.type == ft.FILE_SERIES:
                shown = f"{value.last.name} (last of {value.count})"
        elif field.type == ft.FILE:
            shown = f"{value.name} ({value.size} bytes, sha256 {value.sha256[:12]}…)"
        elif field.type == ft.STRING_SET:
            shown = ", ".join(sorted(value)) or "(empty)"
        elif isinstance(value, datetime):
            shown = value.isoformat(timespec="seconds")
        else:
            shown = value if isinstance(value, str) else repr(value)
        table.add_row(path, field.type, shown)
    return table


def run_demo(project: str, epochs: int, home: Path, console: Console) -> None:
    os.environ.setdefault("DESPINA_HOME", str(home))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.datasets import load_wine
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import despina

    params = {
        "model": "SGDClassifier",
        "loss": "log_loss",
        "alpha": 1e-4,
        "epochs": epochs,
        "test_size": 0.25,
        "seed": 7,
    }
    data = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data,
        data.target,
        test_size=params["test_size"],
        random_state=params["seed"],
        stratify=data.target,
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    classes = np.unique(data.target)

    with despina.init_run(project=project, name="wine-sgd", tags=["demo", "sklearn"]) as run:
        run["parameters"] = params
        run["data/name"] = "sklearn wine"
        run["data/train_rows"] = len(x_train)
        model = SGDClassifier(loss="log_loss", alpha=params["alpha"], random_state=params["seed"])
        for epoch in range(epochs):
            model.partial_fit(x_train, y_train, classes=classes)
            run["train/accuracy"].append(accuracy_score(y_train, model.predict(x_train)), step=epoch)
            run["train/loss"].append(
                log_loss(y_train, model.predict_proba(x_train), labels=classes), step=epoch
            )
            run["val/accuracy"].append(accuracy_score(y_test, model.predict(x_test)), step=epoch)
            run["val/loss"].append(log_loss(y_test, model.predict_proba(x_test), labels=classes), step=epoch)
        run["val/f1_macro"] = float(
            __import__("sklearn.metrics", fromlist=["f1_score"]).f1_score(
                y_test, model.predict(x_test), average="macro"
            )
        )
        figure, axes = plt.subplots(figsize=(4, 4))
        ConfusionMatrixDisplay.from_estimator(
            model, x_test, y_test, ax=axes, display_labels=data.target_names
        )
        run["val/confusion_matrix"].upload(figure)
        plt.close(figure)
        with tempfile.TemporaryDirectory() as folder:
            weights = Path(folder) / "model.pkl"
            weights.write_bytes(pickle.dumps({"scaler": scaler, "model": model}))
            run["model/weights"].upload(weights)
        run_id = run.id
    finished = despina.init_run(project=project, with_id=run_id, mode="read-only")
    console.print(_fields_table(finished))
    console.print(f"Stored in {home}. Reopen with despina.init_run(project={project!r}, with_id={run_id!r}).")


# -- the Kedro example -----------------------------------------------------------------------------

KEDRO_PROJECT = "demo/kedro-wine"
# Each demo run changes the split, the seed and the size of the search, so that the runs differ.
DEMO_PARAMS: tuple[dict[str, Any], ...] = (
    {"data_processing.frac": 0.25, "data_processing.random_seed": 42, "data_science.n_trials": 8},
    {"data_processing.frac": 0.3, "data_processing.random_seed": 7, "data_science.n_trials": 12},
    {"data_processing.frac": 0.2, "data_processing.random_seed": 3, "data_science.n_trials": 6},
    {"data_processing.frac": 0.35, "data_processing.random_seed": 11, "data_science.n_trials": 10},
)
_EXAMPLE = Path("examples") / "kedro-optuna"


def kedro_example_source() -> Path:
    """examples/kedro-optuna of the source checkout Despina is installed from (`pip install -e`)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / _EXAMPLE
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise FileNotFoundError(
        "examples/kedro-optuna was not found next to the installed package; run `despina demo` from a "
        'source checkout installed with `pip install -e ".[demo,kedro]"`, or `despina demo --script`'
    )


def copy_kedro_example(target: Path, project: str | None = None) -> Path:
    """Copy the example project to `target`, made for the installed Kedro (its `kedro_init_version`)."""
    import kedro

    shutil.copytree(
        kedro_example_source(), target, ignore=shutil.ignore_patterns("data", ".despina", "__pycache__")
    )
    pyproject = target / "pyproject.toml"
    pyproject.write_text(
        re.sub(
            r'^kedro_init_version = ".*"$',
            f'kedro_init_version = "{kedro.__version__}"',
            pyproject.read_text(),
            flags=re.M,
        )
    )
    if project is not None:
        config = target / "conf" / "base" / "despina.yml"
        config.write_text(re.sub(r"^project: .*$", f"project: {project}", config.read_text(), flags=re.M))
    return target


def kedro_env(home: Path) -> dict[str, str]:
    """The environment of a `kedro run` child: this home, and no telemetry prompt or upload."""
    env = {**os.environ, "DESPINA_HOME": str(home), "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    env.pop("DESPINA_CUSTOM_RUN_ID", None)  # each `kedro run` is a run of its own
    return env


def kedro_run(project_dir: Path, home: Path, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """`kedro run ARGS` in `project_dir`, logging to `home`."""
    return subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=project_dir,
        env=kedro_env(home),
        capture_output=True,
        text=True,
        timeout=900,
    )


def params_arg(params: dict[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in params.items())


def run_kedro_demo(project: str | None, runs: int, home: Path, console: Console) -> None:
    """Run the example pipeline `runs` times with different parameters and list the runs."""
    try:
        import kedro  # noqa: F401
    except ImportError:
        raise SystemExit(
            'The Kedro demo needs Kedro: pip install -e ".[demo,kedro]" (or run `despina demo --script`)'
        ) from None
    import despina

    project = project or KEDRO_PROJECT
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="despina-kedro-demo-") as folder:
        project_dir = copy_kedro_example(Path(folder) / "kedro-optuna", project)
        for index in range(runs):
            params = DEMO_PARAMS[index % len(DEMO_PARAMS)]
            console.print(f"[bold]kedro run --params {params_arg(params)}[/bold] ({index + 1} of {runs})")
            result = kedro_run(project_dir, home, ["--params", params_arg(params)])
            if result.returncode != 0:
                console.print(result.stdout[-4000:], result.stderr[-4000:], markup=False)
                raise SystemExit(f"kedro run failed (exit code {result.returncode}); its output is above")
    os.environ["DESPINA_HOME"] = str(home)
    table = Table("run", "state", "frac", "trials", "best cv accuracy", "test accuracy", title=project)
    runs_table = despina.init_project(project)
    try:
        rows = runs_table.fetch_runs_table().to_rows()
    finally:
        runs_table.stop()
    for row in sorted(rows, key=lambda r: int(str(r["sys/id"]).rsplit("-", 1)[-1])):
        table.add_row(
            str(row["sys/id"]),
            str(row.get("sys/state")),
            str(row.get("kedro/catalog/parameters/data_processing/frac")),
            str(row.get("kedro/catalog/parameters/data_science/n_trials")),
            _number(row.get("kedro/tuning/best/value")),
            _number(row.get("kedro/evaluation/accuracy")),
        )
    console.print(table)
    console.print(f"Stored in {home}. Browse them with `despina ui` ({LOCAL_UI_URL} by default).")


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
