"""End to end: `pipeline run` then `pipeline predict` as real processes, step skipping, and runs on
subsets of the shared corpora with their own tasks."""

from __future__ import annotations

import gzip
import json
import re
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipeline import ingest as ingest_module
from pipeline.config import load_config
from pipeline.run import run_all

ACCOUNTING = re.compile(r"read (\d+) · kept (\d+) · duplicates (\d+) · rejected (\d+)")
PREDICTED = re.compile(r"read (\d+) · predicted (\d+) · rejected (\d+)")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_run_then_predict_on_the_sample_corpus(sample_workdir: Path, run_pipeline) -> None:
    run = run_pipeline("run", "--fast", cwd=sample_workdir)
    assert run.returncode == 0, run.stderr
    match = ACCOUNTING.search(run.stdout)
    assert match, run.stdout
    read, kept, duplicates, rejected = map(int, match.groups())
    assert read == kept + duplicates + rejected
    for step in ("ingest", "features", "train", "evaluate"):
        assert f"{step}: ran" in run.stdout
    assert re.search(r"^topic: accuracy \d\.\d{3} · macro-F1", run.stdout, re.MULTILINE)
    assert re.search(r"^stance: accuracy \d\.\d{3} · macro-F1", run.stdout, re.MULTILINE)
    assert "at sqlite:///mlflow.db · registered news-topic v1, news-stance v1" in run.stdout
    for output in (
        "data/processed/train.parquet",
        "data/processed/test.parquet",
        "models/topic/model.joblib",
        "models/stance/metadata.json",
        "reports/metrics.json",
        "mlflow.db",
    ):
        assert (sample_workdir / output).exists(), output
    metrics = json.loads((sample_workdir / "reports/metrics.json").read_text())
    assert set(metrics) == {"topic", "stance"}
    saved = json.loads((sample_workdir / "models/topic/metadata.json").read_text())["config"]
    # --fast is the quick-iteration preset (config.FAST), recorded with the model
    assert saved["model"]["search"] is False and saved["model"]["cv"] == 2
    assert saved["features"]["word_ngrams"] == [1, 1]
    assert_embedded_mlflow_store(sample_workdir / "mlflow.db", metrics)

    predict = run_pipeline("predict", "data/raw/dumps", "-o", "preds.jsonl", cwd=sample_workdir)
    assert predict.returncode == 0, predict.stderr
    read, predicted, rejected = map(int, PREDICTED.search(predict.stdout).groups())
    assert read == predicted + rejected
    assert predicted >= 50
    rows = read_jsonl(sample_workdir / "preds.jsonl")
    assert len(rows) == predicted
    assert len({row["id"] for row in rows}) == predicted
    for row in rows:
        assert set(row) == {"id", "topic", "topic_scores", "stance", "stance_scores"}
        assert row["topic"] and row["stance"] in row["stance_scores"]

    again = run_pipeline("run", "--fast", "--no-mlflow", cwd=sample_workdir)
    assert again.returncode == 0, again.stderr
    for step in ("ingest", "features", "train", "evaluate"):
        assert re.search(rf"^{step}: skipped", again.stdout, re.MULTILINE), again.stdout
    assert json.loads((sample_workdir / "reports/metrics.json").read_text()) == metrics


def assert_embedded_mlflow_store(db: Path, metrics: dict[str, Any]) -> None:
    """The default store in the working directory holds the run and both registered models."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("news-pipeline")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.metrics["topic.micro_f1"] == pytest.approx(metrics["topic"]["micro_f1"])
    assert run.data.metrics["stance.accuracy"] == pytest.approx(metrics["stance"]["accuracy"])
    for name in ("news-topic", "news-stance"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"


def _steps(config_overrides: dict[str, Any] | None = None, force: bool = False) -> dict[str, str]:
    overrides = {"model.search": False, "mlflow.enabled": False, **(config_overrides or {})}
    config = load_config(Path("params.yaml"), overrides)
    result = run_all(config, force=force, log=lambda _line: None)
    return {step: state.split()[0] for step, state in result.steps.items()}


def test_run_reruns_exactly_the_steps_whose_inputs_changed(
    sample_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = dict.fromkeys(("ingest", "features", "train", "evaluate"), "ran")
    skipped = dict.fromkeys(ran, "skipped")
    assert _steps() == ran
    overrides: dict[str, Any] = {"features.min_df": 3}
    assert _steps(overrides) == skipped | {"features": "ran", "train": "ran", "evaluate": "ran"}
    overrides["model.grid"] = {"C": [0.5]}
    assert _steps(overrides) == skipped | {"train": "ran", "evaluate": "ran"}
    (sample_workdir / "models/stance/model.joblib").unlink()
    assert _steps(overrides) == skipped | {"train": "ran", "evaluate": "ran"}
    monkeypatch.setattr(ingest_module, "INGEST_CODE", ingest_module.INGEST_CODE + 1)
    assert _steps(overrides)["ingest"] == "ran"  # new cleaning code: processed data is stale
    articles = sample_workdir / "data/raw/articles.jsonl"
    first = read_jsonl(articles)[0]
    with articles.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({**first, "id": "extra-1", "text": first["text"] + " Updated."}) + "\n")
    assert _steps(overrides) == ran


def _write_subset(source: Path, target: Path, *, step: int, limit: int) -> int:
    """Every `step`-th record of a gzipped JSONL corpus, at most `limit`, into tmp."""
    with gzip.open(source, "rt", encoding="utf-8") as src:
        lines = list(islice(islice(src, 0, None, step), limit))
    with gzip.open(target, "wt", encoding="utf-8") as dst:
        dst.writelines(lines)
    return len(lines)


def _corpus_project(
    tmp_path: Path, corpus: Path, task: str, spec: dict[str, str], step: tuple[int, int]
) -> tuple[Path, Path]:
    """A config in its own folder pointing at subsets of `corpus`, and a separate cwd."""
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    _write_subset(corpus / "train.jsonl.gz", conf / "data/train.jsonl.gz", step=step[0], limit=1500)
    _write_subset(corpus / "test.jsonl.gz", conf / "data/test.jsonl.gz", step=step[1], limit=500)
    config = {
        "data": {"train": ["data/train.jsonl.gz"], "test": ["data/test.jsonl.gz"]},
        "tasks": {task: spec},
        "model": {"grid": {"C": [0.3, 1.0]}},
        "seed": 7,
    }
    (conf / "x.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    return conf / "x.yaml", work


@pytest.mark.slow
def test_run_on_a_reuters_subset_with_its_own_multilabel_task(
    shared_datasets: Path, tmp_path: Path, run_pipeline
) -> None:
    config, work = _corpus_project(
        tmp_path,
        shared_datasets / "reuters21578_modapte",
        "topics",
        {"field": "topics", "type": "multilabel"},
        step=(1, 1),
    )
    result = run_pipeline("run", "--config", config, cwd=work)
    assert result.returncode == 0, result.stderr
    assert ACCOUNTING.search(result.stdout)
    metrics = json.loads((work / "reports/metrics.json").read_text())
    assert set(metrics) == {"topics"}
    topics = metrics["topics"]
    assert {"accuracy", "macro_f1", "micro_f1", "per_label"} <= set(topics)
    assert topics["micro_f1"] > 0.6  # peers reach ~0.86 on the full corpus
    _, meta = _model(work, "topics")
    assert set(topics["per_label"]) == set(meta["labels"])
    assert {"earn", "acq"} <= set(meta["labels"])
    assert meta["type"] == "multilabel"
    # the two grid points, then the better one at the two other default n-gram weights
    assert [r["params"].get("ngram_weight") for r in meta["search"]] == [None, None, 0.25, 1.0]
    assert meta["ngram_weight"] == meta["best_params"].get("ngram_weight", 0.5)
    assert (work / "mlflow.db").exists()


@pytest.mark.slow
def test_run_and_predict_on_a_20newsgroups_subset_with_its_own_multiclass_task(
    shared_datasets: Path, tmp_path: Path, run_pipeline
) -> None:
    config, work = _corpus_project(
        tmp_path,
        shared_datasets / "20newsgroups_bydate",
        "newsgroup",
        {"field": "newsgroup", "type": "multiclass"},
        step=(8, 15),  # the files are sorted by group: a stride keeps all twenty
    )
    result = run_pipeline("run", "--config", config, "--no-mlflow", cwd=work)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((work / "reports/metrics.json").read_text())
    newsgroup = metrics["newsgroup"]
    assert len(newsgroup["per_label"]) == 20
    assert newsgroup["accuracy"] > 0.5  # chance is 0.05; peers reach ~0.87 on the full corpus
    assert newsgroup["accuracy"] == pytest.approx(newsgroup["micro_f1"])
    assert (work / "reports/newsgroup/confusion.png").exists()

    test_file = config.parent / "data/test.jsonl.gz"
    predict = run_pipeline("predict", test_file, "-o", "out.parquet", cwd=work)
    assert predict.returncode == 0, predict.stderr
    frame = pd.read_parquet(work / "out.parquet")
    assert {"id", "newsgroup", "newsgroup_scores"} <= set(frame.columns)
    read, predicted, _ = map(int, PREDICTED.search(predict.stdout).groups())
    assert len(frame) == predicted and read == 500
    with gzip.open(test_file, "rt", encoding="utf-8") as fh:
        truth = {row["id"]: row["newsgroup"] for row in map(json.loads, fh)}
    hits = sum(truth[i] == label for i, label in zip(frame["id"], frame["newsgroup"], strict=True))
    assert hits / len(frame) > 0.5


def _model(work: Path, task: str) -> tuple[Any, dict[str, Any]]:
    from pipeline.train import load_model

    return load_model(work / "models" / task)
