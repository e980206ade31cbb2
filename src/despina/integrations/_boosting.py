"""What the XGBoost and LightGBM integrations share: the best iteration of a metric's history, a feature
importance figure, and numbers out of configuration strings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from despina.integrations._fields import FieldLog
from despina.types import File


def best_of(values: Sequence[float], maximize: bool) -> tuple[int, float] | None:
    """(iteration, value) of the best point (the first, on ties), or None for an empty history."""
    if not values:
        return None
    pick = max if maximize else min
    best = pick(values)
    return values.index(best), best


def log_best(log: FieldLog, iteration: int, score: float, metric: str) -> None:
    """`best/iteration` (0-based, the step of the series), `best/score` and `best/metric`."""
    log.put("best/iteration", int(iteration))
    log.put("best/score", float(score))
    log.put("best/metric", metric)


def log_importance(log: FieldLog, importance: Mapping[str, Mapping[str, float]]) -> None:
    """`feature_importance/<kind>/<feature>` = the booster's importance of each feature."""
    for kind, scores in importance.items():
        for feature, value in scores.items():
            log.put(f"feature_importance/{kind}/{feature}", float(value))


def log_figure(log: FieldLog, sub: str, draw: Callable[[Any], Any]) -> None:
    """Draw with `draw(axes)` on a figure made without pyplot (no GUI backend, nothing left open) and
    store it as a PNG image; without matplotlib, warn once."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        log.warn("matplotlib", f"{sub} needs matplotlib (pip install matplotlib); not drawn")
        return
    try:
        figure = Figure(figsize=(8, 6))
        draw(figure.subplots())
        image = File.as_image(figure)
    except Exception as exc:
        log.warn(f"figure:{sub}", f"could not draw {sub}: {type(exc).__name__}: {exc}")
        return
    log.upload(sub, image)


def number_or_text(value: Any) -> Any:
    """A configuration value ("0.3", "6", "reg:squarederror") as int or float when it reads as one."""
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value
