"""The few catalog operations the plugin needs, on Kedro 1.x's and 0.19's public catalog APIs.

Kedro 1.x (and 0.19's KedroDataCatalog) is a mapping: `keys()`, `get(name)`, `catalog[name] = ds`.
Kedro 0.19's DataCatalog has `list()`, `add(name, ds, replace=True)` and the `datasets` attribute.
"""

from __future__ import annotations

from typing import Any


def dataset_names(catalog: Any) -> list[str]:
    """Every dataset name the catalog declares (parameters included)."""
    if callable(getattr(catalog, "keys", None)):
        return [str(name) for name in catalog.keys()]  # noqa: SIM118 (a catalog, not a dict)
    return [str(name) for name in catalog.list()]


def get_dataset(catalog: Any, name: str) -> Any | None:
    """The dataset object registered under `name`, or None."""
    if callable(getattr(catalog, "get", None)):
        try:
            return catalog.get(name)
        except Exception:  # a pattern that cannot be resolved here is as good as absent
            return None
    datasets = getattr(catalog, "datasets", None)
    try:
        return None if datasets is None else datasets[name]
    except (KeyError, TypeError):
        return None


def add_dataset(catalog: Any, name: str, dataset: Any) -> None:
    """Register `dataset` under `name`, replacing an earlier one of the same name."""
    if callable(getattr(catalog, "add", None)):
        catalog.add(name, dataset, replace=True)
    else:
        catalog[name] = dataset


def contains(catalog: Any, name: str) -> bool:
    """Whether the catalog has a dataset (or matching pattern) called `name`."""
    try:
        return name in catalog
    except TypeError:
        return name in dataset_names(catalog)
