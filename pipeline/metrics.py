"""Classification metrics in the shape `reports/metrics.json` promises."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support


def score(
    y_true: np.ndarray, y_pred: np.ndarray, *, labels: list[str], multilabel: bool
) -> dict[str, Any]:
    """Accuracy (subset accuracy for label sets), macro/micro F1 and per-label P/R/F1."""
    label_args: dict[str, Any] = {} if multilabel else {"labels": labels}
    p, r, f, s = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0, **label_args
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0, **label_args)),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0, **label_args)),
        "per_label": {
            label: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i, label in enumerate(labels)
        },
    }


def calibration(probs: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Brier score and expected calibration error of probabilities against 0/1 outcomes.

    Both arrays are flattened: for multiclass pass one-hot truth and the full probability matrix
    (ECE over every class probability), for multilabel the indicator matrix.
    """
    p, t = probs.ravel(), truth.ravel().astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece, curve = 0.0, []
    for b in range(bins):
        mask = which == b
        if mask.any():
            conf, acc = float(p[mask].mean()), float(t[mask].mean())
            ece += mask.mean() * abs(conf - acc)
            curve.append({"bin": b, "confidence": conf, "frequency": acc, "count": int(mask.sum())})
    return {"brier": float(np.mean((p - t) ** 2)), "ece": float(ece), "curve": curve}
