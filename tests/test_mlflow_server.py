"""MLflow against a real tracking server: the run, its artifacts, the registry and its aliases,
and `pipeline predict` from a registered model URI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def artifact_paths(client: Any, run_id: str, path: str | None = None) -> set[str]:
    """Every artifact file of a run, recursively."""
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found |= artifact_paths(client, run_id, item.path)
        else:
            found.add(item.path)
    return found


def run_id_from(stdout: str, url: str) -> str:
    match = re.search(rf"mlflow run ([0-9a-f]{{32}}) at {re.escape(url)}", stdout)
    assert match, stdout
    return match.group(1)


def test_run_logs_to_the_server_registers_and_serves_models(
    mlflow_server: str,
    sample_workdir: Path,
    seed_dump: Path,
    tmp_path: Path,
    run_pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import get_model_info

    from pipeline.clean import build_document
    from pipeline.train import load_model

    url = mlflow_server
    run = run_pipeline("run", "--fast", "--tracking-uri", url, cwd=sample_workdir)
    assert run.returncode == 0, run.stderr
    assert not (sample_workdir / "mlflow.db").exists(), "runs went to the server, not a local db"
    run_id = run_id_from(run.stdout, url)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)  # MLflow resolves some URIs through it
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    logged = client.get_run(run_id)
    metrics = json.loads((sample_workdir / "reports/metrics.json").read_text())
    for task in ("topic", "stance"):
        for key in ("accuracy", "macro_f1", "micro_f1"):
            assert logged.data.metrics[f"{task}.{key}"] == pytest.approx(metrics[task][key])
    assert logged.data.params["seed"] == "42"
    assert logged.data.params["model.search"] == "False"
    assert logged.data.params["topic.best.C"] == "1.0"  # no search: the first grid's first point
    assert logged.data.params["topic.best.type"] == "linear_svc"
    artifacts = artifact_paths(client, run_id)
    assert {
        "reports/metrics.json",
        "reports/index.html",
        "reports/topic/per_label.png",
        "reports/stance/confusion.png",
        "data/manifest.json",
        "data/rejects.jsonl",
        "data/duplicates.jsonl",
        "topic/metadata.json",
        "stance/metadata.json",
    } <= artifacts

    for task in ("topic", "stance"):
        name = f"news-{task}"
        champion = client.get_model_version_by_alias(name, "champion")
        candidate = client.get_model_version_by_alias(name, "candidate")
        assert champion.version == candidate.version
        assert champion.run_id == run_id
        info = get_model_info(f"models:/{name}@champion")
        assert info.signature is not None
        columns = info.signature.inputs.inputs
        assert [(col.name, col.required) for col in columns] == [
            ("title", False),
            ("text", False),
        ]

    # served through pyfunc, a DataFrame of titles and texts scores as the saved pipeline
    # scores the documents ingest builds from them
    articles = pd.DataFrame(
        {
            "title": ["Navy chiefs sign a submarine deal", None],
            "text": ["The defence ministers agreed on two submarines.", "Talks on rice tariffs."],
        }
    )
    served_model = mlflow.pyfunc.load_model("models:/news-stance@champion")
    pipe, _ = load_model(sample_workdir / "models" / "stance")
    documents = [build_document(row, ["title", "text"]) for row in articles.to_dict("records")]
    assert list(served_model.predict(articles)) == list(pipe.predict(documents))
    assert list(served_model.predict(articles[["text"]])) == list(
        pipe.predict(articles["text"].tolist())
    )

    out_dir = tmp_path / "elsewhere"
    out_dir.mkdir()
    served = run_pipeline(
        "predict",
        seed_dump,
        "--model",
        "models:/news-topic@champion",
        "--model",
        "models:/news-stance@champion",
        "-o",
        "out.jsonl",
        cwd=out_dir,
        env={"MLFLOW_TRACKING_URI": url},
    )
    assert served.returncode == 0, served.stderr
    assert "read 1 · predicted 1 · rejected 0" in served.stdout
    (row,) = read_jsonl(out_dir / "out.jsonl")
    assert "military_cooperation" in row["topic"]
    assert row["stance"] in {"critical", "neutral", "supportive"}

    local = run_pipeline(
        "predict", seed_dump, "--model", sample_workdir / "models", "-o", "local.jsonl", cwd=out_dir
    )
    assert local.returncode == 0, local.stderr
    (local_row,) = read_jsonl(out_dir / "local.jsonl")
    assert row == local_row, "the registered model is the model saved on disk"


def test_a_worse_model_becomes_candidate_but_not_champion(
    mlflow_server: str, sample_workdir: Path, run_pipeline
) -> None:
    from mlflow import MlflowClient

    url = mlflow_server
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    first = run_pipeline("run", "--fast", "--tracking-uri", url, cwd=sample_workdir)
    assert first.returncode == 0, first.stderr
    champions = {
        task: client.get_model_version_by_alias(f"news-{task}", "champion")
        for task in ("topic", "stance")
    }

    params = yaml.safe_load((sample_workdir / "params.yaml").read_text())
    params["features"]["max_features"] = 5  # starved of features: clearly worse
    (sample_workdir / "worse.yaml").write_text(yaml.safe_dump(params))
    worse = run_pipeline(
        "run", "--config", "worse.yaml", "--fast", "--tracking-uri", url, cwd=sample_workdir
    )
    assert worse.returncode == 0, worse.stderr
    assert "ingest: skipped" in worse.stdout and "train: ran" in worse.stdout
    worse_run = run_id_from(worse.stdout, url)
    assert client.get_run(worse_run).data.params["features.max_features"] == "5"
    for task, champion in champions.items():
        name = f"news-{task}"
        candidate = client.get_model_version_by_alias(name, "candidate")
        assert candidate.run_id == worse_run
        assert int(candidate.version) == int(champion.version) + 1
        assert float(candidate.tags["macro_f1"]) < float(champion.tags["macro_f1"])
        assert client.get_model_version_by_alias(name, "champion").version == champion.version
