"""The raw data: scikit-learn's wine data set as a DataFrame (shipped with scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset


class WineDataset(AbstractDataset[None, pd.DataFrame]):
    """178 wines, 13 measurements and a `target` class; `missing_fraction` of the cells blanked."""

    def __init__(self, missing_fraction: float = 0.0, random_seed: int = 0) -> None:
        self._missing_fraction = missing_fraction
        self._random_seed = random_seed

    def load(self) -> pd.DataFrame:
        from sklearn.datasets import load_wine

        frame: pd.DataFrame = load_wine(as_frame=True).frame
        if self._missing_fraction:
            features = frame.columns.drop("target")
            rng = np.random.default_rng(self._random_seed)
            mask = rng.random((len(frame), len(features))) < self._missing_fraction
            frame[features] = frame[features].mask(mask)
        return frame

    def save(self, data: None) -> None:
        raise NotImplementedError("WineDataset is read-only")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"missing_fraction": self._missing_fraction, "random_seed": self._random_seed}
