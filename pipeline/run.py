"""`pipeline run`: every training step in order, skipping a step whose inputs and config are
unchanged since it last ran (each step leaves a fingerprint of what it consumed)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.evaluate import METRICS_FILE, evaluate
from pipeline.features import build_features, features_dir, load_features
from pipeline.ingest import (
    MANIFEST,
    IngestResult,
    file_sha256,
    ingest,
    input_files,
    manifest_key,
)
from pipeline.train import METADATA_FILE, MODEL_FILE, load_model, train
from pipeline.workers import warming


@dataclass
class RunResult:
    """Which steps ran or were skipped, and what they produced."""

    steps: dict[str, str] = field(default_factory=dict)
    ingest: IngestResult | None = None
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    mlflow_run: Any = None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def ingest_is_current(config: Config) -> bool:
    manifest = _read_json(Path(config.paths.processed) / MANIFEST)
    if manifest is None:
        return False
    out = Path(config.paths.processed)
    key = manifest_key(config, input_files(config))
    return all(manifest.get(field) == value for field, value in key.items()) and all(
        (out / name).exists() and file_sha256(out / name) == digest
        for name, digest in manifest.get("outputs", {}).items()
    )


def train_key(config: Config) -> str:
    """What a trained model depends on: processed data, features and the training config."""
    stamp = _read_json(features_dir(config) / "stamp.json") or {}
    return f"{stamp.get('stamp')}-{config.section_hash('tasks', 'features', 'model', 'seed')}"


def train_is_current(config: Config) -> bool:
    for name in config.tasks:
        meta = _read_json(Path(config.paths.models) / name / METADATA_FILE)
        if meta is None or meta.get("train_key") != train_key(config):
            return False
        if not (Path(config.paths.models) / name / MODEL_FILE).exists():
            return False
    return True


def evaluate_key(config: Config) -> dict[str, str]:
    models = {
        name: (_read_json(Path(config.paths.models) / name / METADATA_FILE) or {}).get("sha256", "")
        for name in config.tasks
    }
    return models | {"_tasks": config.section_hash("tasks")}


def run_all(
    config: Config, *, force: bool = False, log: Callable[[str], None] = print
) -> RunResult:
    """Ingest → features → train → evaluate → MLflow, skipping up-to-date steps unless `force`."""
    ingest_current = not force and ingest_is_current(config)
    trains = not ingest_current or not train_is_current(config)
    # the training's workers start while ingest runs
    with warming(config.model.n_jobs) if trains else contextlib.nullcontext():
        return _run_steps(config, force, log, ingest_current)


def _run_steps(
    config: Config, force: bool, log: Callable[[str], None], ingest_current: bool
) -> RunResult:
    result = RunResult()
    if not ingest_current:
        result.ingest = ingest(config)
        log(result.ingest.counts.summary())
        result.steps["ingest"] = "ran"
    else:
        result.steps["ingest"] = "skipped (inputs and config unchanged)"
    stamp = _read_json(features_dir(config) / "stamp.json")
    features = build_features(config) if force else load_features(config)
    result.steps["features"] = (
        "ran"
        if stamp is None or stamp.get("stamp") != features.stamp or force
        else "skipped (unchanged)"
    )
    trained = None
    if force or not train_is_current(config):
        trained = train(config, features=features, key=train_key(config))
        result.steps["train"] = "ran"
    else:
        result.steps["train"] = "skipped (data, features and model config unchanged)"
    reports = Path(config.paths.reports)
    stamp_path = reports / ".stamp.json"
    if (
        force
        or trained
        or _read_json(stamp_path) != evaluate_key(config)
        or not (reports / METRICS_FILE).exists()
    ):
        result.metrics = evaluate(config)
        stamp_path.write_text(json.dumps(evaluate_key(config)))
        result.steps["evaluate"] = "ran"
    else:
        result.metrics = _read_json(reports / METRICS_FILE) or {}
        result.steps["evaluate"] = "skipped (models and test split unchanged)"
    if config.mlflow.enabled:
        from pipeline.tracking import log_run

        # models are logged (and registered) only when trained in this run
        models = {
            name: load_model(Path(config.paths.models) / name)
            for name in (config.tasks if trained else [])
        }
        result.mlflow_run = log_run(
            config,
            metrics=result.metrics,
            models=models,
            reports_dir=reports,
            processed_dir=Path(config.paths.processed),
            register=config.mlflow.register_models and trained is not None,
            tags={"steps": json.dumps(result.steps)},
        )
        result.steps["mlflow"] = "logged"
    return result
