"""Everything MLflow: one run per `pipeline run`, artifacts, model logging, registry and aliases.

The rest of the library never imports MLflow, so it works with tracking switched off.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import pipeline
from pipeline.config import Config
from pipeline.ingest import DUPLICATES, MANIFEST, REJECTS

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
CHAMPION, CANDIDATE = "champion", "candidate"
_EXAMPLE_TEXT = "Defence ministers met in Jakarta to sign an arms deal."
# what `predict` needs to use a logged model without the local models/ folder
LOGGED_METADATA = ("task", "type", "labels", "text_fields", "id_field", "fields")


@dataclass
class LoggedRun:
    """Where a run went and which model versions it registered ({model name: version})."""

    run_id: str
    tracking_uri: str
    experiment: str
    versions: dict[str, str] = field(default_factory=dict)


def tracking_uri(config: Config) -> str:
    return (
        config.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    )


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


def _input_example(text_fields: list[str]) -> pd.DataFrame:
    """One article with a column per text field, as pyfunc callers pass them (`as_texts`)."""
    example = {"title": "Jakarta hosts defence talks", "text": _EXAMPLE_TEXT}
    return pd.DataFrame({name: [example.get(name, _EXAMPLE_TEXT)] for name in text_fields})


def _signature(example: pd.DataFrame, output: Any) -> Any:
    """The inferred signature, every text column optional: a missing field is skipped as
    ingest skips it (a pair's missing headline stays an empty first line)."""
    from mlflow.models import infer_signature
    from mlflow.types.schema import ColSpec, Schema

    signature = infer_signature(example, output)
    signature.inputs = Schema(
        [ColSpec(col.type, col.name, required=False) for col in signature.inputs.inputs]
    )
    return signature


def log_run(
    config: Config,
    *,
    metrics: dict[str, dict[str, Any]],
    models: dict[str, tuple[Any, dict[str, Any]]],
    reports_dir: Path,
    processed_dir: Path,
    register: bool,
    tags: dict[str, str] | None = None,
) -> LoggedRun:
    """Log a whole training run; `models` maps task → (pipeline, metadata) to log and register."""
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep the run's own summary readable
    uri = tracking_uri(config)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(config.mlflow.experiment)
    params: dict[str, Any] = {}
    _flatten("", config.model_dump(mode="json"), params)
    for task, (_, metadata) in models.items():  # what the search chose, model type included
        chosen = {"type": config.model.type, **metadata.get("best_params", {})}
        params |= {f"{task}.best.{key}": value for key, value in chosen.items()}
    logged = LoggedRun("", uri, config.mlflow.experiment)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="mlflow")
        with mlflow.start_run(tags=tags) as run:
            logged.run_id = run.info.run_id
            mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
            for task, m in metrics.items():
                flat = {f"{task}.{k}": float(m[k]) for k in ("accuracy", "macro_f1", "micro_f1")}
                flat |= {f"{task}.{k}": float(v) for k, v in m.get("calibration", {}).items()}
                flat |= {
                    f"{task}.f1.{label}": float(v["f1"]) for label, v in m["per_label"].items()
                }
                mlflow.log_metrics(flat)
            if reports_dir.exists():
                mlflow.log_artifacts(str(reports_dir), artifact_path="reports")
            for name in (MANIFEST, REJECTS, DUPLICATES):
                if (processed_dir / name).exists():
                    mlflow.log_artifact(str(processed_dir / name), artifact_path="data")
            for task, (pipe, metadata) in models.items():
                example = _input_example(metadata["text_fields"])
                info = mlflow.sklearn.log_model(
                    pipe,
                    name=task,
                    serialization_format="cloudpickle",
                    signature=_signature(example, pipe.predict(example)),
                    input_example=example,
                    code_paths=[str(Path(pipeline.__file__).parent)],
                    pip_requirements=_requirements(metadata),
                    metadata={k: metadata[k] for k in LOGGED_METADATA if k in metadata},
                )
                mlflow.log_dict(metadata, f"{task}/metadata.json")
                if register:
                    name = f"{config.mlflow.model_prefix}{task}"
                    version = _register(info.model_uri, name, metrics.get(task, {}), config)
                    logged.versions[name] = version
    return logged


def _requirements(metadata: dict[str, Any]) -> list[str]:
    libs = metadata.get("libraries", {})
    return [f"{name}=={ver}" for name, ver in libs.items()]


def _register(model_uri: str, name: str, metrics: dict[str, Any], config: Config) -> str:
    """Register a version; it becomes `candidate`, and `champion` if it scores at least as well."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    version = mlflow.register_model(model_uri, name).version
    key = config.model.scoring
    value = metrics.get(key)
    if value is not None:
        client.set_model_version_tag(name, version, key, str(value))
    client.set_registered_model_alias(name, CANDIDATE, version)
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
        best = float(current.tags.get(key, "-inf"))
    except Exception:  # no champion yet
        best = float("-inf")
    if value is not None and float(value) >= best:
        client.set_registered_model_alias(name, CHAMPION, version)
    return str(version)


def load_logged_model(uri: str, config: Config) -> tuple[Any, dict[str, Any]]:
    """A logged pipeline (e.g. `models:/news-topic@champion`) and its task metadata."""
    import mlflow

    from pipeline.errors import UsageError

    mlflow.set_tracking_uri(tracking_uri(config))
    mlflow.set_registry_uri(tracking_uri(config))
    try:
        info = mlflow.models.get_model_info(uri)
        pipe = mlflow.sklearn.load_model(uri)
    except mlflow.exceptions.MlflowException as exc:
        raise UsageError(f"cannot load {uri} from {tracking_uri(config)}: {exc.message}") from exc
    metadata = dict(info.metadata or {})
    if "task" not in metadata:  # logged by another tool: derive what we can from the model
        name = uri.split(":/", 1)[1].strip("/").split("/")[0].split("@")[0]
        metadata = {
            "task": name.removeprefix(config.mlflow.model_prefix),
            "labels": [str(c) for c in pipe[-1].classes_],
            "type": "multilabel" if pipe[-1].multilabel else "multiclass",
        }
    return pipe, metadata
