"""`despina demo`: the four-line workflow on a real (small) model."""

from __future__ import annotations

import os
import pickle
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


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
