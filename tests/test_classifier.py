"""CalibratedLinearClassifier, thresholds, and saving/loading models with their checksum."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from pipeline.classifier import CalibratedLinearClassifier, _decision, best_f1_threshold
from pipeline.clean import TextCleaner
from pipeline.errors import PipelineError, UsageError
from pipeline.nbsvm import NBLinearSVC
from pipeline.train import load_model, save_model


@pytest.fixture(scope="module")
def multiclass_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=300, n_features=20, n_informative=8, n_classes=3, random_state=0
    )
    return X, np.array(["critical", "neutral", "supportive"])[y]


@pytest.fixture(scope="module")
def multilabel_data() -> tuple[np.ndarray, np.ndarray]:
    X, Y = make_multilabel_classification(
        n_samples=300, n_features=20, n_classes=5, n_labels=2, random_state=0
    )
    return X, Y


def test_multiclass_probabilities_sum_to_one(multiclass_data) -> None:
    X, y = multiclass_data
    clf = CalibratedLinearClassifier(LinearSVC(random_state=0), cv=3, random_state=0).fit(X, y)
    probs = clf.predict_proba(X)
    assert probs.shape == (len(X), 3)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert list(clf.classes_) == ["critical", "neutral", "supportive"]
    predicted = clf.predict(X)
    assert set(predicted) <= set(clf.classes_)
    assert (predicted == clf.classes_[probs.argmax(axis=1)]).all()
    assert (predicted == y).mean() > 0.6


def test_multilabel_probabilities_and_thresholds_are_in_unit_interval(multilabel_data) -> None:
    X, Y = multilabel_data
    labels = ["a", "b", "c", "d", "e"]
    clf = CalibratedLinearClassifier(
        LinearSVC(random_state=0), multilabel=True, cv=3, random_state=0
    ).fit(X, Y, classes=labels)
    probs = clf.predict_proba(X)
    assert probs.shape == Y.shape
    assert ((probs >= 0) & (probs <= 1)).all()
    assert clf.thresholds_.shape == (5,)
    assert ((clf.thresholds_ >= 0) & (clf.thresholds_ <= 1)).all()
    assert list(clf.classes_) == labels
    predicted = clf.predict(X)
    assert set(np.unique(predicted)) <= {0, 1}
    assert ((probs >= clf.thresholds_) <= predicted).all()  # every label over threshold is on


@pytest.mark.parametrize("min_labels", [0, 1, 2])
def test_min_labels_is_guaranteed(multilabel_data, min_labels: int) -> None:
    X, Y = multilabel_data
    clf = CalibratedLinearClassifier(
        LinearSVC(random_state=0), multilabel=True, min_labels=min_labels, random_state=0
    ).fit(X, Y)
    clf.thresholds_ = np.full(Y.shape[1], 1.01)  # nothing passes: only min_labels decides
    decided = clf.predict(X)
    assert (decided.sum(axis=1) == min_labels).all()
    top = np.argsort(-clf.predict_proba(X), axis=1)[:, :min_labels]
    assert all(decided[i, top[i]].all() for i in range(len(X)))


def test_thresholds_are_untuned_when_switched_off(multilabel_data) -> None:
    X, Y = multilabel_data
    clf = CalibratedLinearClassifier(
        LinearSVC(random_state=0), multilabel=True, tune_thresholds=False
    ).fit(X, Y)
    assert (clf.thresholds_ == 0.5).all()


def test_best_f1_threshold_separates_and_handles_no_positives() -> None:
    probs = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    truth = np.array([1, 1, 0, 0, 0])
    threshold = best_f1_threshold(probs, truth)
    assert 0.3 < threshold < 0.8
    assert ((probs >= threshold) == truth.astype(bool)).all()
    assert best_f1_threshold(probs, np.zeros(5, dtype=int)) == 1.0
    assert 0.0 <= best_f1_threshold(probs, np.ones(5, dtype=int)) <= 0.1


def test_fit_is_deterministic_for_a_seed(multiclass_data) -> None:
    X, y = multiclass_data
    a = CalibratedLinearClassifier(LinearSVC(random_state=0), random_state=3).fit(X, y)
    b = CalibratedLinearClassifier(LinearSVC(random_state=0), random_state=3).fit(X, y)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))


def _text_pipeline() -> Pipeline:
    docs = [f"navy drills {i}" if i % 2 else f"budget vote {i}" for i in range(40)]
    labels = np.array(["defence" if i % 2 else "politics" for i in range(40)])
    return Pipeline(
        [
            ("clean", TextCleaner()),
            ("tfidf", TfidfVectorizer()),
            ("classifier", CalibratedLinearClassifier(LinearSVC(random_state=0), random_state=0)),
        ]
    ).fit(docs, labels)


def test_save_and_load_round_trip_with_checksum(tmp_path: Path) -> None:
    pipe = _text_pipeline()
    directory = save_model(
        pipe, {"task": "demo", "labels": ["defence", "politics"]}, tmp_path / "m"
    )
    metadata = json.loads((directory / "metadata.json").read_text())
    assert (
        metadata["sha256"] == hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()
    )
    loaded, loaded_meta = load_model(directory)
    assert loaded_meta == metadata
    docs = ["navy drills near the strait", "budget vote in parliament"]
    assert np.array_equal(loaded.predict_proba(docs), pipe.predict_proba(docs))
    assert list(loaded.predict(docs)) == ["defence", "politics"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"], "no temp folder left behind"


def test_saved_model_gets_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    directory = save_model(_text_pipeline(), {"task": "demo"}, tmp_path / "m")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o777 & ~umask
    for name in ("model.joblib", "metadata.json"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o666 & ~umask


def test_saving_again_replaces_the_model_atomically(tmp_path: Path) -> None:
    pipe = _text_pipeline()
    save_model(pipe, {"task": "demo", "version": 1}, tmp_path / "m")
    save_model(pipe, {"task": "demo", "version": 2}, tmp_path / "m")
    assert load_model(tmp_path / "m")[1]["version"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_tampered_model_is_refused(tmp_path: Path, trained_workdir: Path) -> None:
    directory = tmp_path / "topic"
    shutil.copytree(trained_workdir / "models" / "topic", directory)
    load_model(directory)
    with (directory / "model.joblib").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(PipelineError, match="checksum does not match") as caught:
        load_model(directory)
    assert caught.value.exit_code == 1


def test_missing_model_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no saved model here"):
        load_model(tmp_path)


def test_saved_metadata_describes_the_model(trained_workdir: Path) -> None:
    manifest = json.loads((trained_workdir / "data/processed/manifest.json").read_text())
    for task, kind in (("topic", "multilabel"), ("stance", "multiclass")):
        pipe, meta = load_model(trained_workdir / "models" / task)
        assert meta["task"] == task and meta["type"] == kind
        assert meta["labels"] == list(pipe[-1].classes_)
        assert meta["data_manifest_hash"] == manifest["hash"]
        assert meta["seed"] == 42
        assert meta["config"]["tasks"][task]["type"] == kind
        assert meta["config"]["seed"] == 42
        assert {"scikit-learn", "numpy", "pandas", "scipy", "joblib"} <= set(meta["libraries"])
        assert meta["python"].count(".") == 2
        assert meta["n_train"] == manifest["counts"]["splits"]["train"]
        assert meta["n_features"] == pipe.named_steps["tfidf"].transform(["a text"]).shape[1]
        assert {"accuracy", "macro_f1", "micro_f1"} <= set(meta["cv_metrics"])
        assert meta["best_params"] == {"C": 1.0}  # no search: the first grid value
        assert meta["calibration"] == pipe[-1].calibration_
        assert meta["calibration"] in {"logistic", "vector_scaling", "platt"}
        assert meta["train_key"]
        assert [name for name, _ in pipe.steps] == ["clean", "tfidf", "classifier"]
    topic_meta = load_model(trained_workdir / "models" / "topic")[1]
    assert set(topic_meta["thresholds"]) == set(topic_meta["labels"])
    assert all(0.0 <= t <= 1.0 for t in topic_meta["thresholds"].values())


def test_saved_pipeline_scores_raw_text(trained_workdir: Path) -> None:
    docs = [
        "Share this article\nIndonesia and Russia signed a deal for Su-35 fighter jets and "
        "agreed to hold joint naval exercises next year, the defence ministry said.",
        "The central bank raised interest rates as inflation climbed to a ten-year high.",
    ]
    topic, _ = load_model(trained_workdir / "models" / "topic")
    stance, _ = load_model(trained_workdir / "models" / "stance")
    probs = stance.predict_proba(docs)
    assert np.allclose(probs.sum(axis=1), 1.0)
    decided = topic.predict(docs)
    assert (decided.sum(axis=1) >= 1).all()
    labels = np.asarray(topic[-1].classes_)
    assert "economy" in labels[decided[1].astype(bool)]


def test_a_label_missing_from_a_fold_fits_without_warning_noise() -> None:
    """Reuters has labels with one example: folds without it must not print a warning each."""
    import warnings

    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    from pipeline.classifier import cv_fit

    rng = np.random.default_rng(0)
    X = rng.random((30, 4))
    Y = np.zeros((30, 2), dtype=int)
    Y[::2, 0] = 1
    Y[0, 1] = 1  # one positive: two of the three folds train without it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores, _ = cv_fit([OneVsRestClassifier(LinearSVC())], X, Y, folds=3, seed=0, n_jobs=1)
    assert scores[0].shape == (30, 2)


@pytest.mark.parametrize("estimator", [LinearSVC(), NBLinearSVC()], ids=["svm", "nbsvm"])
@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_a_class_with_one_training_document_still_trains(estimator, n_classes: int) -> None:
    """A class seen once is missing from one fold's training part (with 3 classes, that fold's
    model is binary; with 2, that fold has one class and no model): its out-of-fold scores
    still have a column per class, and the model predicts every class with probabilities
    that sum to one."""
    from pipeline.classifier import cv_fit

    X, y = make_classification(
        n_samples=90,
        n_features=20,
        n_informative=8,
        n_classes=max(n_classes - 1, 2),
        random_state=0,
    )
    X = np.abs(X)  # NBSVM takes non-negative features, as TF-IDF's
    labels = np.array(["a", "b", "c"])[y] if n_classes > 2 else np.full(90, "a")
    labels[0] = "rare"
    scores, _ = cv_fit([estimator], X, labels, folds=3, seed=0, n_jobs=1)
    assert scores[0].shape == (90, n_classes)
    assert (scores[0] == -1.0).any(axis=0).tolist() == [False] * (n_classes - 1) + [True]
    clf = CalibratedLinearClassifier(estimator=estimator, cv=3).fit(X, labels)
    assert clf.classes_.tolist() == sorted(set(labels))
    probs = clf.predict_proba(X)
    assert probs.shape == (90, n_classes)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_one_vs_rest_scores_come_from_stacked_weights_unchanged(multilabel_data) -> None:
    X, Y = multilabel_data
    X = sp.csr_matrix(X)
    for base in (NBLinearSVC(random_state=0), LogisticRegression(), LinearSVC(random_state=0)):
        clf = CalibratedLinearClassifier(base, multilabel=True, random_state=0).fit(X, Y)
        per_label = _decision(clf.estimator_, X)
        assert np.array_equal(clf.decision_scores(X), per_label)  # same sums, same order
    assert "_stacked" in clf.__dict__ and "_stacked" not in pickle.loads(pickle.dumps(clf)).__dict__
    with pytest.raises(ValueError, match="features"):
        clf.decision_scores(X[:, :5])
    # a label never present is fitted as a constant: the per-label path, same scores
    Y_const = Y.copy()
    Y_const[:, 0] = 0
    with pytest.warns(UserWarning, match="present in all training examples"):
        const = CalibratedLinearClassifier(LinearSVC(random_state=0), multilabel=True)
        const.fit(X, Y_const)
    assert const.__dict__.get("_stacked", False) is False
    assert np.array_equal(const.decision_scores(X), _decision(const.estimator_, X))
    assert const.__dict__["_stacked"] is None


def test_multiclass_scores_come_from_transposed_weights_unchanged() -> None:
    rng = np.random.default_rng(0)
    X = sp.random(120, 50, density=0.2, random_state=0, format="csr")
    y = rng.choice(["a", "b", "c"], size=120)
    for base in (NBLinearSVC(random_state=0), LogisticRegression(), LinearSVC(random_state=0)):
        clf = CalibratedLinearClassifier(base, random_state=0).fit(X, y)
        assert np.array_equal(clf.decision_scores(X), _decision(clf.estimator_, X))
        weights, _ = clf.__dict__["_stacked"]
        assert weights.flags.c_contiguous and weights.shape == (50, 3)
    clf.fit(X[:60], y[:60])  # refit: weights stacked from the new model, not the old one
    assert np.array_equal(clf.decision_scores(X), _decision(clf.estimator_, X))
    binary = CalibratedLinearClassifier(LinearSVC(random_state=0)).fit(X, y == "a")
    assert np.array_equal(binary.decision_scores(X), _decision(binary.estimator_, X))
    assert binary.__dict__["_stacked"] is None


def test_the_final_fit_keeps_the_calibration_from_the_search(multiclass_data) -> None:
    """A search calibrates each candidate on its out-of-fold scores; the one kept is fitted on
    all the data with that calibration, as one `fit` given the same scores would make it."""
    X, y = multiclass_data
    whole = CalibratedLinearClassifier(LinearSVC(random_state=0), random_state=0).fit(X, y)
    searched = CalibratedLinearClassifier(LinearSVC(random_state=0), random_state=0)
    scores = _decision(whole.estimator_, X) * 0.5  # any scores: the calibration is theirs
    searched._fit_calibration(scores, y)
    calibrator = searched.calibrator_
    searched.fit_final(X, y)
    assert searched.calibrator_ is calibrator
    refit = CalibratedLinearClassifier(LinearSVC(random_state=0), random_state=0)
    refit.fit(X, y, cv_scores=scores)
    assert np.array_equal(searched.predict_proba(X), refit.predict_proba(X))
    assert np.array_equal(searched.decision_scores(X), whole.decision_scores(X))


@pytest.mark.slow
def test_many_classes_seen_a_few_times_stay_predictable(shared_datasets: Path) -> None:
    """Reuters stories with one topic, 52 topics (R52), some seen twice: the multinomial
    calibration over all 52 scores shrinks the rare topics until they are never the most
    probable (held-out macro-F1 0.67 where the SVM's own argmax reaches 0.76); the per-class
    scaling is kept instead, and gives back the rare topics."""
    import gzip
    from collections import Counter

    from sklearn.metrics import f1_score

    def single_topic(split: str) -> tuple[list[str], np.ndarray]:
        path = shared_datasets / "reuters21578_modapte" / f"{split}.jsonl.gz"
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            rows = [json.loads(line) for line in lines]
        rows = [r for r in rows if len(r["topics"]) == 1]
        return [f"{r['title']}\n{r['text']}" for r in rows], np.array(
            [r["topics"][0] for r in rows]
        )

    train_docs, y = single_topic("train")
    test_docs, y_test = single_topic("test")
    kept = {topic for topic, _ in Counter(y).most_common(52)}
    train_docs = [d for d, t in zip(train_docs, y, strict=True) if t in kept]
    y = y[np.isin(y, list(kept))]
    test_docs = [d for d, t in zip(test_docs, y_test, strict=True) if t in kept]
    y_test = y_test[np.isin(y_test, list(kept))]
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    X, X_test = vectorizer.fit_transform(train_docs), vectorizer.transform(test_docs)
    clf = CalibratedLinearClassifier(LinearSVC(random_state=0), n_jobs=2).fit(X, y)
    assert clf.calibration_ == "vector_scaling"
    probs = clf.predict_proba(X_test)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    joint = clf.calibrator_.predict(clf.decision_scores(X_test))
    kept_macro = f1_score(y_test, clf.predict(X_test), average="macro")
    assert kept_macro > f1_score(y_test, joint, average="macro") + 0.05


def test_cv_fit_hands_over_each_estimators_scores_once_all_its_folds_are_in(
    multiclass_data,
) -> None:
    """`scored` runs once per estimator, with its finished out-of-fold scores, whatever order
    the pool's fits end in; the full fits and the scores are those of a run without it."""
    from pipeline.classifier import cv_fit

    X, y = multiclass_data
    estimators = [LinearSVC(C=1.0, random_state=0), LinearSVC(C=0.1, random_state=0)]
    seen: dict[int, list[np.ndarray]] = {}
    scores, fitted = cv_fit(
        estimators,
        X,
        y,
        folds=3,
        seed=0,
        n_jobs=2,
        fit_full=True,
        scored=lambda k, s: seen.setdefault(k, []).append(s.copy()),
    )
    plain, plain_fitted = cv_fit(estimators, X, y, folds=3, seed=0, n_jobs=1, fit_full=True)
    assert sorted(seen) == [0, 1]
    for k in (0, 1):
        assert len(seen[k]) == 1
        np.testing.assert_array_equal(seen[k][0], scores[k])
        np.testing.assert_array_equal(scores[k], plain[k])
        np.testing.assert_array_equal(fitted[k].coef_, plain_fitted[k].coef_)


def test_large_products_split_across_threads_give_the_same_scores(monkeypatch) -> None:
    """Row blocks multiplied side by side: the same sums per row, bit for bit."""
    from pipeline import classifier

    X = sp.random(203, 500, density=0.05, format="csr", random_state=0)
    weights = np.random.default_rng(0).standard_normal((500, 7))
    whole = classifier._product(X, weights)
    monkeypatch.setattr(classifier, "SPLIT_PRODUCT", 1)
    split = classifier._product(X, weights)
    assert np.array_equal(whole, split) and split.shape == (203, 7)
    assert classifier._product(X[:3], weights).shape == (3, 7)  # fewer rows than blocks
    dense = X.toarray()  # not sparse: one product as before
    assert np.array_equal(classifier._product(dense, weights), dense @ weights)
