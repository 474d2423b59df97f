"""Features, train and evaluate on the sample corpus: metrics schema, plots, reproducibility."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from pipeline import features
from pipeline.config import TaskConfig, load_config
from pipeline.errors import UsageError
from pipeline.evaluate import evaluate
from pipeline.features import build_features, load_features, word_tfidf
from pipeline.ingest import ingest
from pipeline.train import load_model, ngram_block, reweighted, train, with_ngram_weight

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOLATILE = {"created", "train_seconds", "search_seconds"}


@pytest.fixture(scope="module")
def metrics(trained_workdir: Path) -> dict[str, Any]:
    return json.loads((trained_workdir / "reports" / "metrics.json").read_text())


def test_metrics_json_has_the_promised_schema(metrics: dict[str, Any]) -> None:
    config_labels = {
        "topic": {
            "military_cooperation",
            "arms_trade",
            "human_rights",
            "diplomacy",
            "sanctions",
            "armed_conflict",
            "domestic_politics",
            "economy",
        },
        "stance": {"critical", "neutral", "supportive"},
    }
    assert set(metrics) == {"topic", "stance"}
    for task, m in metrics.items():
        for key in ("accuracy", "macro_f1", "micro_f1"):
            assert isinstance(m[key], float) and 0.0 <= m[key] <= 1.0
        assert set(m["per_label"]) == config_labels[task]
        for row in m["per_label"].values():
            assert set(row) == {"precision", "recall", "f1", "support"}
            assert all(0.0 <= row[k] <= 1.0 for k in ("precision", "recall", "f1"))
            assert isinstance(row["support"], int) and row["support"] > 0
    assert metrics["stance"]["accuracy"] == pytest.approx(metrics["stance"]["micro_f1"])


def test_models_learn_something_on_the_sample(metrics: dict[str, Any]) -> None:
    assert metrics["topic"]["micro_f1"] > 0.6
    assert metrics["stance"]["macro_f1"] > 0.45  # three balanced-ish classes: chance is ~0.33


def test_metrics_match_an_independent_computation(
    trained_workdir: Path, metrics: dict[str, Any]
) -> None:
    test = pd.read_parquet(trained_workdir / "data/processed/test.parquet")
    docs = test["text"].tolist()
    stance, _ = load_model(trained_workdir / "models/stance")
    predicted = stance.predict(docs)
    assert metrics["stance"]["accuracy"] == pytest.approx(accuracy_score(test["stance"], predicted))
    assert metrics["stance"]["macro_f1"] == pytest.approx(
        f1_score(test["stance"], predicted, average="macro")
    )
    topic, meta = load_model(trained_workdir / "models/topic")
    truth = MultiLabelBinarizer(classes=meta["labels"]).fit_transform(list(test["topic"]))
    decided = topic.predict(docs)
    assert metrics["topic"]["accuracy"] == pytest.approx(accuracy_score(truth, decided))
    assert metrics["topic"]["micro_f1"] == pytest.approx(f1_score(truth, decided, average="micro"))
    assert metrics["topic"]["per_label"]["economy"]["support"] == int(
        truth[:, meta["labels"].index("economy")].sum()
    )


def test_plots_and_html_report_exist(trained_workdir: Path, metrics: dict[str, Any]) -> None:
    reports = trained_workdir / "reports"
    expected = [
        reports / "topic" / "per_label.png",
        reports / "topic" / "reliability.png",
        reports / "stance" / "confusion.png",
        reports / "stance" / "reliability.png",
    ]
    for png in expected:
        assert png.read_bytes()[:8] == PNG_MAGIC, png
        assert png.stat().st_size > 2000
    listed = {Path(p).name for m in metrics.values() for p in m["plots"].values()}
    assert listed == {"per_label.png", "reliability.png", "confusion.png"}
    html = (reports / "index.html").read_text()
    assert "topic/per_label.png" in html and "stance/confusion.png" in html


def test_evaluation_headline_is_written_into_model_metadata(
    trained_workdir: Path, metrics: dict[str, Any]
) -> None:
    for task in ("topic", "stance"):
        _, meta = load_model(trained_workdir / "models" / task)
        assert meta["test_metrics"]["macro_f1"] == pytest.approx(
            metrics[task]["macro_f1"], abs=1e-4
        )


def test_tfidf_is_fitted_on_the_train_split_only(sample_workdir: Path) -> None:
    config = load_config(Path("params.yaml"), {"features.min_df": 1, "features.max_df": 1.0})
    ingest(config)
    built = build_features(config)
    train = pd.read_parquet("data/processed/train.parquet")
    test = pd.read_parquet("data/processed/test.parquet")
    word = word_tfidf(built.vectorizer)
    analyzer = word.build_analyzer()
    train_terms = {t for doc in train["text"] for t in analyzer(doc)}
    test_only = {t for doc in test["text"] for t in analyzer(doc)} - train_terms
    assert test_only, "the sample's test split has words the train split lacks"
    vocabulary = set(word.vocabulary_)
    assert vocabulary == train_terms
    assert not test_only & vocabulary
    lead = np.array(list(word.vocabulary_))[word.lead_columns_]
    assert set(lead) <= train_terms and not test_only & set(lead)
    width = len(vocabulary) + len(lead)
    assert built.X_train.shape == (len(train), width)
    assert built.X_test.shape == (len(test), width)


def test_cached_features_are_rebuilt_when_the_feature_code_changes(
    sample_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(Path("params.yaml"))
    ingest(config)
    built = build_features(config)
    cached = load_features(config)
    assert cached.stamp == built.stamp  # cached: same data, config and code
    # the bench counts the vectorizer's fit as training time; a cache hit fitted nothing
    assert built.fit_seconds is not None and built.fit_seconds > 0
    assert cached.fit_seconds is None
    monkeypatch.setattr(features, "FEATURES_CODE", features.FEATURES_CODE + 1)
    rebuilt = load_features(config)
    assert rebuilt.stamp != built.stamp
    assert json.loads(Path("data/processed/features/stamp.json").read_text())["stamp"] == (
        rebuilt.stamp
    )


def _train_and_evaluate() -> dict[str, Any]:
    config = load_config(
        Path("params.yaml"), {"model.grid": {"C": [0.3, 1.0]}, "mlflow.enabled": False}
    )
    ingest(config)
    trained = train(config)
    metrics = evaluate(config)
    test = pd.read_parquet("data/processed/test.parquet")
    probs = {name: t.pipeline.predict_proba(test["text"].tolist()) for name, t in trained.items()}
    meta = {
        name: {k: v for k, v in t.metadata.items() if k not in VOLATILE}
        for name, t in trained.items()
    }
    return {"metrics": metrics, "probs": probs, "meta": meta}


def test_same_data_config_and_seed_give_identical_results(sample_workdir: Path) -> None:
    first = _train_and_evaluate()
    for output in ("data/processed", "models", "reports"):
        shutil.rmtree(sample_workdir / output)
    second = _train_and_evaluate()
    assert first["metrics"] == second["metrics"]
    for task in ("topic", "stance"):
        assert np.array_equal(first["probs"][task], second["probs"][task])
        meta = first["meta"][task]
        assert meta == second["meta"][task]
        # the two grid points, then the better one at each `model.ngram_weights` value
        assert [r["params"].get("ngram_weight") for r in meta["search"]] == [None, None, 0.25, 1.0]
        best = max(meta["search"], key=lambda r: r["macro_f1"])
        assert meta["best_params"] == best["params"]
        assert meta["cv_metrics"] == best


def test_train_and_evaluate_need_their_inputs(sample_workdir: Path, cli) -> None:
    config = load_config(Path("params.yaml"))
    with pytest.raises(UsageError, match="run `pipeline ingest` first"):
        train(config)
    assert cli("ingest").exit_code == 0
    with pytest.raises(UsageError, match="no saved model"):
        evaluate(config)
    result = cli("evaluate")
    assert result.exit_code == 2
    assert "no saved model" in result.stderr


def test_a_task_with_one_class_in_training_is_a_clear_error(sample_workdir: Path) -> None:
    articles = sample_workdir / "data/raw/articles.jsonl"
    rows = [json.loads(line) for line in articles.read_text(encoding="utf-8").splitlines()]
    articles.write_text("".join(json.dumps({**r, "flag": "no"}) + "\n" for r in rows))
    config = load_config(
        Path("params.yaml"),
        {"data.train": [str(articles)], "model.search": False, "mlflow.enabled": False},
    ).model_copy(
        update={
            "tasks": {"flag": TaskConfig(field="flag", type="multiclass", labels=["no", "yes"])}
        }
    )
    ingest(config)
    with pytest.raises(UsageError, match="task flag: every training document has the class 'no'"):
        train(config)


def test_cli_steps_one_by_one(sample_workdir: Path, cli) -> None:
    assert cli("ingest").exit_code == 0
    features = cli("features")
    assert features.exit_code == 0, features.output
    assert "features · train" in features.stdout
    trained = cli("train", "--fast")
    assert trained.exit_code == 0, trained.output
    assert "topic: cv macro-F1" in trained.stdout and "stance: cv macro-F1" in trained.stdout
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0, evaluated.output
    assert "topic: accuracy" in evaluated.stdout and "stance: accuracy" in evaluated.stdout
    assert (sample_workdir / "reports/metrics.json").exists()


def test_the_saved_pipeline_makes_the_features_at_the_chosen_ngram_weight(
    sample_workdir: Path,
) -> None:
    config = load_config(
        Path("params.yaml"),
        {"model.grid": {"C": [1.0]}, "model.ngram_weights": [2.0], "mlflow.enabled": False},
    )
    ingest(config)
    feats = build_features(config)
    texts = pd.read_parquet("data/processed/test.parquet")["text"].tolist()
    block = ngram_block(feats.vectorizer, feats.n_features)
    assert block is not None and 0 < block.sum() < len(block)
    X = feats.vectorizer.transform(texts)
    heavier = with_ngram_weight(feats.vectorizer, 2.0)
    assert np.allclose(heavier.transform(texts).toarray(), reweighted(X, block, 4.0).toarray())
    assert np.array_equal(feats.vectorizer.transform(texts).toarray(), X.toarray())  # a copy
    for task in train(config, features=feats).values():
        weight = task.metadata["ngram_weight"]
        assert weight == task.metadata["best_params"].get("ngram_weight", 0.5)
        expected = reweighted(X, block, weight / 0.5)
        assert np.allclose(task.pipeline[1].transform(texts).toarray(), expected.toarray())
        probs = task.pipeline[-1].predict_proba(expected)
        assert np.allclose(task.pipeline.predict_proba(texts), probs)
