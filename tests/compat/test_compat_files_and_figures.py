"""Corpus: files and figures (`run["plots/cm"].upload(fig)`, `File.as_image`, `File.as_html`, CSV,
file sets, pickles, an image series, a plotly chart)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from neptune_corpus import RunScript, read_run, run_ids

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("plotly")
pytest.importorskip("PIL")

PROJECT = "team/vision"
PNG = b"\x89PNG\r\n\x1a\n"


def test_figures_and_files_are_stored_as_files(run_script: RunScript, tmp_path: Path) -> None:
    run_script("files_and_figures.py", env={"NEPTUNE_PROJECT": PROJECT})

    [run_id] = run_ids(PROJECT)
    run = read_run(PROJECT, run_id)
    out = tmp_path / "out"
    out.mkdir()

    for path in ("plots/cm", "plots/cm_image", "plots/cm_assigned"):
        assert run[path].fetch_extension() == "png", path
        assert run[path].download(out / f"{path.replace('/', '_')}.png").read_bytes().startswith(PNG)
    # the same figure, whichever way it was handed over, is the same picture
    cm = (out / "plots_cm.png").read_bytes()
    assert (out / "plots_cm_image.png").read_bytes() == cm

    page = run["plots/cm_html"].download(out / "cm.html").read_text("utf-8")
    assert run["plots/cm_html"].fetch_extension() == "html" and "<img" in page

    table = run["data/predictions"].download(out / "predictions.html").read_text("utf-8")
    assert "<table" in table and "predicted" in table
    csv = run["data/predictions_csv"].download(out / "predictions.csv")
    assert csv.read_bytes() == (tmp_path / "predictions.csv").read_bytes()

    assert run["configs"].fetch_files_list() == ["data.json", "model.json"]
    configs = run["configs"].download(out / "configs")
    assert (configs / "model.json").read_text() == '{"var_smoothing": 1e-09}'

    model = pickle.loads(run["model/pickled"].download(out / "model.pkl").read_bytes())
    assert type(model).__name__ == "GaussianNB"
    assert run["notes"].download(out / "notes.txt").read_text() == "Gaussian naive Bayes, default priors"

    images = run["images/misclassified"].download(out / "misclassified")
    files = sorted(images.iterdir())
    assert 1 <= len(files) <= 4
    assert all(f.read_bytes().startswith(PNG) for f in files)

    chart = run["plots/predicted_histogram"].download(out / "chart.html").read_text("utf-8")
    assert "Predicted classes" in chart and "cdn.plot.ly" in chart  # include_plotlyjs="cdn" was honoured
    assert run["sys/state"].fetch() == "finished"
