"""Plots people look at: confusion matrices, per-label error counts and reliability curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import confusion_matrix, multilabel_confusion_matrix

from pipeline.io.writers import atomic_path


def _save(fig: Any, target: Path) -> Path:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return target


def confusion_png(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], target: Path) -> Path:
    """Multiclass confusion matrix, rows = truth, with counts in the cells."""
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    size = max(4.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 25:
        for (i, j), n in np.ndenumerate(matrix):
            color = "white" if n > matrix.max() / 2 else "black"
            ax.text(j, i, str(n), ha="center", va="center", color=color, fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title("Confusion matrix (test split)")
    return _save(fig, target)


def per_label_png(Y_true: np.ndarray, Y_pred: np.ndarray, labels: list[str], target: Path) -> Path:
    """Multilabel: true positives, false negatives and false positives per label."""
    mcm = multilabel_confusion_matrix(Y_true, Y_pred)
    table = np.stack([mcm[:, 1, 1], mcm[:, 1, 0], mcm[:, 0, 1]], axis=1)
    fig, ax = plt.subplots(figsize=(5, max(3.0, 0.28 * len(labels) + 1)))
    ax.imshow(
        table / np.maximum(table.sum(axis=1, keepdims=True), 1), cmap="Oranges", aspect="auto"
    )
    ax.set_xticks(range(3), ["true pos.", "false neg.", "false pos."])
    ax.set_yticks(range(len(labels)), labels, fontsize=8 if len(labels) <= 40 else 5)
    if len(labels) <= 60:
        for (i, j), n in np.ndenumerate(table):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=7)
    ax.set_title("Per-label errors (test split)")
    return _save(fig, target)


def reliability_png(curve: list[dict[str, Any]], target: Path, title: str) -> Path:
    """Predicted probability vs observed frequency: on the diagonal means calibrated."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(
        [c["confidence"] for c in curve],
        [c["frequency"] for c in curve],
        marker="o",
        label="model",
    )
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    ax.set_title(title)
    return _save(fig, target)
