"""Evaluate saved models on the held-out test split: metrics, plots and an HTML report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.preprocessing import MultiLabelBinarizer

from pipeline.config import Config
from pipeline.ingest import load_split
from pipeline.io.writers import atomic_path, write_json
from pipeline.metrics import calibration, score
from pipeline.plots import confusion_png, per_label_png, reliability_png
from pipeline.train import METADATA_FILE, load_model

METRICS_FILE = "metrics.json"


def evaluate(config: Config) -> dict[str, dict[str, Any]]:
    """Score every task's saved model on the test split; write reports/ and return the metrics."""
    test = load_split(config, "test")
    reports = Path(config.paths.reports)
    results: dict[str, dict[str, Any]] = {}
    for name, task in config.tasks.items():
        directory = Path(config.paths.models) / name
        pipe, metadata = load_model(directory)
        labels: list[str] = metadata["labels"]
        probs = (
            pipe.predict_proba(test["text"].tolist()) if len(test) else np.zeros((0, len(labels)))
        )
        predicted = pipe[-1].decide(probs)
        out = reports / name
        if task.type == "multilabel":
            truth = MultiLabelBinarizer(classes=labels).fit_transform(
                [[lab for lab in row if lab in labels] for row in test[name]]
            )
            metrics = score(truth, predicted, labels=labels, multilabel=True)
            onehot = truth
            plots = {"per_label": per_label_png(truth, predicted, labels, out / "per_label.png")}
        else:
            truth = test[name].astype(str).to_numpy()
            metrics = score(truth, predicted, labels=labels, multilabel=False)
            onehot = (truth[:, None] == np.asarray(pipe[-1].classes_)[None, :]).astype(int)
            plots = {"confusion": confusion_png(truth, predicted, labels, out / "confusion.png")}
        calib = calibration(probs, onehot)
        plots["reliability"] = reliability_png(
            calib["curve"], out / "reliability.png", f"{name}: reliability"
        )
        metrics["calibration"] = {"brier": calib["brier"], "ece": calib["ece"]}
        metrics["n_test"] = len(test)
        metrics["plots"] = {k: str(v) for k, v in plots.items()}
        results[name] = metrics
        write_json(directory / METADATA_FILE, {**metadata, "test_metrics": _headline(metrics)})
    write_json(reports / METRICS_FILE, results)
    _write_html(reports / "index.html", results)
    return results


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    keys = ("accuracy", "macro_f1", "micro_f1")
    return {k: round(metrics[k], 4) for k in keys} | {
        "brier": round(metrics["calibration"]["brier"], 4),
        "ece": round(metrics["calibration"]["ece"], 4),
    }


def format_metrics(results: dict[str, dict[str, Any]]) -> str:
    """One line per task, for the terminal."""
    lines = []
    for name, m in results.items():
        lines.append(
            f"{name}: accuracy {m['accuracy']:.3f} · macro-F1 {m['macro_f1']:.3f} · "
            f"micro-F1 {m['micro_f1']:.3f} · ECE {m['calibration']['ece']:.3f} (n={m['n_test']})"
        )
    return "\n".join(lines)


def _write_html(target: Path, results: dict[str, dict[str, Any]]) -> None:
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Evaluation</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}</style><h1>Test-split evaluation</h1>",
    ]
    for name, m in results.items():
        parts.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(format_metrics({name: m}))}</p>")
        parts.append(
            "<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
        )
        for label, row in m["per_label"].items():
            parts.append(
                f"<tr><td>{html.escape(label)}</td><td>{row['precision']:.3f}</td>"
                f"<td>{row['recall']:.3f}</td><td>{row['f1']:.3f}</td><td>{row['support']}</td></tr>"
            )
        parts.append("</table>")
        for plot in m["plots"].values():
            parts.append(
                f"<img src='{html.escape(Path(plot).relative_to(target.parent).as_posix())}' style='max-width:45%'>"
            )
    with atomic_path(target) as tmp:
        tmp.write_text("\n".join(parts), encoding="utf-8")
