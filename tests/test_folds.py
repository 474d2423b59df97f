"""The fast grouped folds draw exactly scikit-learn's StratifiedGroupKFold folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from pipeline.folds import cv_splits, stratified_group_folds


def _reference(y: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(np.zeros((len(y), 1)), y, groups)]


@pytest.mark.filterwarnings("ignore:The least populated class")
@pytest.mark.parametrize("trial", range(12))
def test_same_folds_as_scikit_learn(trial: int) -> None:
    rng = np.random.default_rng(trial)
    n, n_classes = int(rng.integers(40, 2000)), int(rng.integers(2, 30))
    # skewed classes, mostly single documents with some copy clusters: many exact ties
    y = np.minimum(rng.geometric(0.25, n) - 1, n_classes - 1)
    groups = np.arange(n)
    copies = int(rng.integers(0, n // 2))
    groups[rng.integers(0, n, copies)] = rng.integers(0, n, copies)
    if trial % 3 == 0:
        y = np.array([f"label {v}" for v in y])
    folds, seed = int(rng.integers(2, 6)), int(rng.integers(0, 1000))
    got = stratified_group_folds(y, groups, folds, seed)
    want = _reference(y, groups, folds, seed)
    assert len(got) == len(want) == folds
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_splits_partition_and_keep_groups_together() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 500)
    groups = rng.integers(0, 150, 500)
    splits = cv_splits(y, 3, 0, groups)
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(500))
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(500))


def test_too_few_groups_is_an_error() -> None:
    with pytest.raises(ValueError, match="number of groups"):
        stratified_group_folds(np.array([0, 1] * 3), np.array([0, 0, 0, 1, 1, 1]), 3, 0)
