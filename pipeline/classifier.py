"""A linear classifier with calibrated probabilities and, for label sets, per-label thresholds.

Both the calibration and the thresholds are fitted on cross-validated decision scores, never on
scores of documents the classifier was trained on, so the probabilities users see are honest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from threadpoolctl import threadpool_limits


def _decision(estimator: Any, X: Any) -> np.ndarray:
    scores = estimator.decision_function(X)
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


def _fit_fold(estimator: Any, X: Any, Y: np.ndarray, train: np.ndarray, test: np.ndarray):
    with threadpool_limits(1):
        fitted = clone(estimator).fit(X[train], Y[train])
        return test, _decision(fitted, X[test])


def cv_decision_scores(
    estimators: list[Any], X: Any, Y: np.ndarray, *, folds: int, seed: int, n_jobs: int
) -> list[np.ndarray]:
    """Out-of-fold decision scores of each estimator (all fits run in one parallel pool)."""
    if Y.ndim == 1:
        splitter: Any = StratifiedKFold(folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros((Y.shape[0], 1)), Y))
    jobs = [(e, tr, te) for e in estimators for tr, te in splits]
    results = Parallel(n_jobs=n_jobs)(delayed(_fit_fold)(e, X, Y, tr, te) for e, tr, te in jobs)
    out = []
    for k in range(len(estimators)):
        chunk = results[k * len(splits) : (k + 1) * len(splits)]
        scores = np.zeros((Y.shape[0], chunk[0][1].shape[1]))
        for test, fold_scores in chunk:
            scores[test] = fold_scores
        out.append(scores)
    return out


def best_f1_threshold(probs: np.ndarray, truth: np.ndarray) -> float:
    """The probability threshold that maximises F1 of one label on held-out predictions."""
    positives = int(truth.sum())
    if positives == 0:
        return 1.0
    order = np.argsort(-probs, kind="stable")
    tp = np.cumsum(truth[order])
    predicted = np.arange(1, len(probs) + 1)
    f1 = 2 * tp / (predicted + positives)
    best = int(np.argmax(f1))
    below = probs[order[best + 1]] if best + 1 < len(probs) else 0.0
    return float((probs[order[best]] + below) / 2)


class CalibratedLinearClassifier(ClassifierMixin, BaseEstimator):
    """Wraps a linear model: multiclass (labels) or multilabel (0/1 indicator matrix) targets.

    `predict_proba` returns calibrated probabilities; for multilabel targets `predict` applies
    the per-label thresholds and keeps at least `min_labels` labels per document.
    """

    def __init__(
        self,
        estimator: Any = None,
        multilabel: bool = False,
        cv: int = 3,
        tune_thresholds: bool = True,
        min_labels: int = 1,
        random_state: int = 0,
        n_jobs: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.multilabel = multilabel
        self.cv = cv
        self.tune_thresholds = tune_thresholds
        self.min_labels = min_labels
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _base(self) -> Any:
        base = clone(self.estimator)
        return OneVsRestClassifier(base) if self.multilabel else base

    def fit(
        self, X: Any, y: Any, classes: list[str] | None = None, cv_scores: np.ndarray | None = None
    ) -> CalibratedLinearClassifier:
        """Fit; `cv_scores` (out-of-fold decision scores) may be passed if already computed."""
        Y = np.asarray(y)
        if cv_scores is None:
            cv_scores = cv_decision_scores(
                [self._base()],
                X,
                Y,
                folds=self.cv,
                seed=self.random_state,
                n_jobs=self.n_jobs or 1,
            )[0]
        self._fit_calibration(cv_scores, Y, classes)
        with threadpool_limits(1):
            self.estimator_ = self._base().fit(X, Y)
        return self

    def _fit_calibration(
        self, scores: np.ndarray, Y: np.ndarray, classes: list[str] | None = None
    ) -> None:
        """Fit calibration (and thresholds) on out-of-fold decision scores."""
        if not self.multilabel:
            self.calibrator_ = LogisticRegression(C=1.0, max_iter=1000).fit(scores, Y)
            self.classes_ = self.calibrator_.classes_
            return
        self.classes_ = np.asarray(classes if classes is not None else range(Y.shape[1]))
        slopes, intercepts = np.zeros(Y.shape[1]), np.zeros(Y.shape[1])
        for j in range(Y.shape[1]):
            if 0 < Y[:, j].sum() < len(Y):
                platt = LogisticRegression(C=1.0, max_iter=1000).fit(scores[:, [j]], Y[:, j])
                slopes[j], intercepts[j] = platt.coef_[0, 0], platt.intercept_[0]
            else:  # a label always (or never) present: a flat, uninformative probability
                intercepts[j] = 10.0 if Y[:, j].all() else -10.0
        self.slopes_, self.intercepts_ = slopes, intercepts
        probs = self._platt(scores)
        self.thresholds_ = np.full(Y.shape[1], 0.5)
        if self.tune_thresholds:
            self.thresholds_ = np.array(
                [best_f1_threshold(probs[:, j], Y[:, j]) for j in range(Y.shape[1])]
            )
        self.cv_probabilities_ = probs

    def _platt(self, scores: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(scores * self.slopes_ + self.intercepts_)))

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Probabilities from raw decision scores."""
        if self.multilabel:
            return self._platt(scores)
        return self.calibrator_.predict_proba(scores)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.calibrated(_decision(self.estimator_, X))

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """Turn probabilities into predictions (labels, or a 0/1 indicator matrix)."""
        if not self.multilabel:
            return self.classes_[np.argmax(probs, axis=1)]
        chosen = (probs >= self.thresholds_).astype(np.int8)
        if self.min_labels:
            top = np.argsort(-probs, axis=1)[:, : self.min_labels]
            short = chosen.sum(axis=1) < self.min_labels
            rows = np.nonzero(short)[0]
            chosen[rows[:, None], top[rows]] = 1
        return chosen

    def predict(self, X: Any) -> np.ndarray:
        return self.decide(self.predict_proba(X))
