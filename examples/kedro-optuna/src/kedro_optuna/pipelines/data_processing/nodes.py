"""Split the wine data and fill its gaps."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split


def split_data(
    wine: pd.DataFrame, frac: float, random_seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Stratified split: `frac` of the rows (of every class alike) become the test set."""
    features, target = wine.drop(columns="target"), wine["target"]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=frac, random_state=random_seed, stratify=target
    )
    return x_train, x_test, y_train, y_test


def fill_missing(x_train: pd.DataFrame, x_test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill missing values with the training set's column means (the test set never leaks in)."""
    means = x_train.mean()
    return x_train.fillna(means), x_test.fillna(means)
