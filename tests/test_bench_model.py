"""The model-quality parts the bench relies on: vectorised Platt scaling, the SCutFBR threshold
rule for rare labels, headline-body pair features and NBSVM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from pipeline.classifier import CalibratedLinearClassifier, platt_fit
from pipeline.clean import split_pair
from pipeline.config import Config, TaskConfig
from pipeline.errors import UsageError
from pipeline.features import Features, PairSimilarity, PrefixStems, build_vectorizer
from pipeline.nbsvm import NBLinearSVC, log_count_ratio
from pipeline.train import base_estimator, candidate_params, fit_task


def test_platt_fit_matches_logistic_regression_on_each_label() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(3000, 3))
    Y = (scores + rng.normal(size=scores.shape) > 1.0).astype(int)
    slopes, intercepts = platt_fit(scores, Y)
    for j in range(3):
        ref = LogisticRegression(C=1e6).fit(scores[:, [j]], Y[:, j])
        assert slopes[j] == pytest.approx(ref.coef_[0, 0], rel=0.02)
        assert intercepts[j] == pytest.approx(ref.intercept_[0], rel=0.02)


def test_platt_fit_keeps_rare_labels_away_from_certainty() -> None:
    scores = np.linspace(-3, 3, 200)[:, None]
    Y = (scores > 2.95).astype(int)  # separable, one positive: plain LR would diverge
    slopes, intercepts = platt_fit(scores, Y)
    probs = 1 / (1 + np.exp(-(scores * slopes + intercepts)))
    assert np.isfinite(slopes).all() and probs.max() < 0.99


def test_rare_label_with_poor_cv_f1_keeps_the_default_threshold() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 20))
    Y = np.zeros((300, 2), dtype=int)
    Y[:, 0] = X[:, 0] > 0  # learnable
    Y[rng.choice(300, 2, replace=False), 1] = 1  # two positives, noise
    clf = CalibratedLinearClassifier(
        LinearSVC(random_state=0), multilabel=True, min_labels=0, random_state=0
    ).fit(X, Y, classes=["signal", "noise"])
    assert clf.thresholds_[1] == 0.5
    assert clf.thresholds_[0] != 0.5
    assert clf.predict(X)[:, 1].sum() < 10  # the rare label is not predicted everywhere


def test_pair_similarity_separates_related_from_unrelated_pairs() -> None:
    related = [
        "Rebels seize the northern airport\nRebel fighters seized the northern airport on Monday.",
        "Minister resigns over bribery scandal\nThe minister resigned after the bribery scandal.",
    ]
    unrelated = [
        "Rebels seize the northern airport\nThe central bank raised interest rates again.",
        "Minister resigns over bribery scandal\nThe team won the cup final on penalties.",
    ]
    pairs = PairSimilarity(n_bins=2).fit(related + unrelated)
    X = pairs.transform(related + unrelated).toarray()
    assert (X[:2, 0] > X[2:, 0].max()).all()  # cosine
    assert (X[:2, 1] > X[2:, 1].max()).all()  # share of headline words found in the body
    assert X.shape[0] == 4
    assert split_pair("head\nbody\nmore") == ("head", "body\nmore")


def test_pair_similarity_matches_inflected_words_through_prefix_stems() -> None:
    assert PrefixStems(5)("The Rebels KILLED the négociateurs") == ["rebel", "kille", "negoc"]
    pairs = [
        "Rebels attack convoy\nThe rebels attacked a convoy.",  # same words, other endings
        "Rebels attack convoy\nThe harvest failed this year.",
    ]
    whole = PairSimilarity(n_bins=2, stem_chars=100).fit(pairs).transform(pairs).toarray()
    stems = PairSimilarity(n_bins=2).fit(pairs).transform(pairs).toarray()
    assert whole[0, 0] < stems[0, 0]  # whole words: only "rebels" and "convoy" match
    assert stems[0, 2] == 1.0  # every headline stem is in the body
    assert stems[1, 0] == 0.0


def test_pair_fields_add_pair_features_and_must_be_the_text_fields() -> None:
    config = Config.model_validate(
        {"data": {"text_fields": ["title", "text"]}, "features": {"pair_fields": ["title", "text"]}}
    )
    union = build_vectorizer(config.features)
    assert "pair" in dict(union.transformer_list)
    with pytest.raises(ValueError, match="pair_fields"):
        Config.model_validate(
            {"data": {"text_fields": ["text"]}, "features": {"pair_fields": ["title", "text"]}}
        )


def test_bad_pair_fields_in_a_config_file_is_a_usage_error(tmp_path) -> None:
    from pipeline.config import load_config

    path = tmp_path / "params.yaml"
    path.write_text("features:\n  pair_fields: [title, body]\n")
    with pytest.raises(UsageError, match="pair_fields"):
        load_config(path)


def test_duplicate_groups_follow_copy_chains(tmp_path) -> None:
    import json

    import pandas as pd

    from pipeline.train import duplicate_groups

    config = Config.model_validate({"paths": {"processed": str(tmp_path)}})
    ids = pd.Series(["a", "b", "c", "d"])
    assert duplicate_groups(config, ids) is None  # no duplicates.jsonl
    rows = [{"id": "c", "duplicate_of": "b"}, {"id": "b", "duplicate_of": "a"}]
    (tmp_path / "duplicates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    groups = duplicate_groups(config, ids)
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_grouped_cv_keeps_copies_in_one_fold() -> None:
    from sklearn.dummy import DummyClassifier

    from pipeline.classifier import cv_fit

    groups = np.repeat(np.arange(12), 5)
    X = np.column_stack([groups, np.zeros(60)]).astype(float)  # column 0 names the group
    y = np.array(["x", "y"] * 30)

    class GroupMemory(DummyClassifier):
        """Scores 1 for a held-out row whose group was in its training folds (a leak)."""

        def fit(self, X, y, sample_weight=None):
            self.seen_ = set(X[:, 0])
            return super().fit(X, y)

        def decision_function(self, X):
            return np.column_stack([np.zeros(len(X)), [v in self.seen_ for v in X[:, 0]]])

    scores, _ = cv_fit([GroupMemory()], X, y, folds=3, seed=0, n_jobs=1, groups=groups)
    assert scores[0][:, 1].sum() == 0
    leaky, _ = cv_fit([GroupMemory()], X, y, folds=3, seed=0, n_jobs=1)
    assert leaky[0][:, 1].sum() > 0


def _word_counts(seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Three classes, each with its own frequent words, over a shared background vocabulary."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["arms", "diplomacy", "economy"]), 60)
    counts = rng.poisson(0.3, size=(len(y), 60)).astype(float)
    for k in range(3):
        counts[y == y[k * 60], k * 10 : k * 10 + 5] += rng.poisson(2.0, size=(60, 5))
    return sp.csr_matrix(counts), y


@pytest.mark.parametrize("svc_params", [{}, {"tol": 1e-3, "fit_intercept": False}])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_nbsvm_folds_the_nb_scaling_into_its_weights(n_classes: int, svc_params: dict) -> None:
    """Its decision scores are a LinearSVC's (with the same LinearSVC parameters) on the
    NB-scaled features, with one product."""
    X, y = _word_counts()
    keep = np.isin(y, np.unique(y)[:n_classes])
    X, y = X[keep], y[keep]
    model = NBLinearSVC(C=0.5, alpha=1.0, random_state=0, **svc_params).fit(X, y)
    assert (model.intercept_ != 0).all() == svc_params.get("fit_intercept", True)
    present = (X > 0).astype(float)
    targets = model.classes_[1:] if n_classes == 2 else model.classes_
    expected = []
    for label in targets:
        ratio = log_count_ratio(present, y == label, 1.0)
        svc = LinearSVC(C=0.5, random_state=0, **svc_params).fit(X @ sp.diags(ratio), y == label)
        expected.append(svc.decision_function(X @ sp.diags(ratio)))
    scores = model.decision_function(X)
    np.testing.assert_allclose(scores, expected[0] if n_classes == 2 else np.column_stack(expected))
    assert (model.predict(X) == y).mean() > 0.9


def test_nbsvm_ratio_points_at_each_class_words() -> None:
    X, y = _word_counts()
    ratio = log_count_ratio((X > 0).astype(float), y == "arms", 1.0)
    assert ratio[:5].min() > 0 > max(ratio[10:15].max(), ratio[20:25].max())


def test_nbsvm_refuses_negative_features_and_single_class() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        NBLinearSVC().fit(sp.csr_matrix(np.array([[1.0, -1.0], [0.0, 1.0]])), ["a", "b"])
    with pytest.raises(ValueError, match="two classes"):
        NBLinearSVC().fit(sp.csr_matrix(np.eye(2)), ["a", "a"])


def test_nbsvm_in_the_calibrated_classifier_for_label_sets() -> None:
    X, y = _word_counts()
    Y = np.column_stack([y == "arms", (y == "arms") | (y == "economy")]).astype(int)
    model = CalibratedLinearClassifier(NBLinearSVC(random_state=0), multilabel=True, min_labels=0)
    model.fit(X, Y)
    probs = model.predict_proba(X)
    assert probs.shape == (len(y), 2) and ((probs >= 0) & (probs <= 1)).all()
    assert (model.predict(X) == Y).mean() > 0.9


def test_config_selects_nbsvm_with_its_parameters() -> None:
    config = Config.model_validate({"model": {"type": "nb_svm", "params": {"alpha": 0.5}}})
    estimator = base_estimator(config, {"C": 0.3})
    assert isinstance(estimator, NBLinearSVC)
    assert (estimator.C, estimator.alpha, estimator.random_state) == (0.3, 0.5, config.seed)


def test_linear_svc_parameters_in_model_params_reach_every_default_grid_type() -> None:
    """`model.params` holds parameters for every type searched: LinearSVC's tolerance and
    intercept reach NBSVM's inner LinearSVC too, not a TypeError for its grid point."""
    params = {"tol": 1e-3, "fit_intercept": False}
    config = Config.model_validate({"model": {"params": params}})
    estimators = [base_estimator(config, point) for point in candidate_params(config)]
    assert {type(e) for e in estimators} == {LinearSVC, NBLinearSVC}
    assert all((e.tol, e.fit_intercept) == (1e-3, False) for e in estimators)


def test_cv_groups_join_copies_and_named_groups(tmp_path) -> None:
    import json

    import pandas as pd

    from pipeline.train import cv_groups

    config = Config.model_validate(
        {"paths": {"processed": str(tmp_path)}, "data": {"group_field": "outlet"}}
    )
    frame = pd.DataFrame({"id": list("abcdefg"), "group": ["x", "x", "y", "z", None, "w", "v"]})
    rows = [{"id": "d", "duplicate_of": "c"}]  # a copy across outlets y and z joins them
    (tmp_path / "duplicates.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    groups = cv_groups(config, frame)
    assert groups[0] == groups[1]
    assert groups[2] == groups[3]
    assert len(set(groups)) == 5  # {a,b} {c,d} {e: no outlet, alone} {f} {g}
    (tmp_path / "duplicates.jsonl").unlink()
    assert len(set(cv_groups(config, frame))) == 6
    ungrouped = Config.model_validate({"paths": {"processed": str(tmp_path)}})
    assert cv_groups(ungrouped, frame) is None
    with pytest.raises(UsageError, match=r"fewer than model.cv = 3"):
        cv_groups(config, frame.assign(group=["x"] * 7).iloc[:3])


def test_grid_list_searches_every_grid_in_order_and_search_off_takes_the_first() -> None:
    grids = [{"C": [1.0, 0.3]}, {"type": ["nb_svm"], "C": [0.3], "alpha": [1.0, 0.5]}]
    config = Config.model_validate({"model": {"grid": grids}})
    assert candidate_params(config) == [
        {"C": 1.0},
        {"C": 0.3},
        {"C": 0.3, "alpha": 1.0, "type": "nb_svm"},
        {"C": 0.3, "alpha": 0.5, "type": "nb_svm"},
    ]
    config.model.search = False
    assert candidate_params(config) == [{"C": 1.0}]
    # one grid as a mapping, as before lists were allowed
    assert candidate_params(Config.model_validate({"model": {"grid": {"C": [2.0]}}})) == [
        {"C": 2.0}
    ]


def test_grid_point_type_overrides_the_model_type() -> None:
    config = Config.model_validate({"model": {"type": "logreg"}})
    assert isinstance(base_estimator(config, {"C": 0.3, "type": "nb_svm"}), NBLinearSVC)
    assert isinstance(base_estimator(config, {"C": 0.3}), LogisticRegression)
    with pytest.raises(UsageError, match=r"model linear_svc: .*alpha"):
        base_estimator(config, {"alpha": 0.5, "type": "linear_svc"})


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ([{"type": ["svm"]}], "grid type 'svm' is not one of linear_svc, nb_svm"),
        ({"C": []}, "grid entry 'C' lists no value"),
    ],
)
def test_bad_grid_is_a_usage_error(grid: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Config.model_validate({"model": {"grid": grid}})


@pytest.mark.parametrize(("signal", "winner"), [(0.4, NBLinearSVC), (1.0, LinearSVC)])
def test_search_picks_the_model_type_by_cross_validation(signal: float, winner: type) -> None:
    """Each class flags 2 of its 20 words in a document, among random words. Faint flags: the
    naive-Bayes scaling finds them better; strong flags: the plain SVM. Either way the search
    reports every point and keeps the best one, type included."""
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], size=300)
    X = sp.random(300, 600, density=0.05, random_state=1, format="lil")
    for i, label in enumerate(y):
        for j in rng.choice(20, size=2, replace=False):
            X[i, {"a": 0, "b": 20, "c": 40}[label] + j] = signal
    X = normalize(sp.csr_matrix(X))
    features = Features(vectorizer=None, X_train=X, X_test=X[:0], stamp="")
    config = Config.model_validate(
        {"model": {"grid": [{"C": [1.0]}, {"type": ["nb_svm"], "C": [1.0]}], "n_jobs": 1}}
    )
    task = TaskConfig(field="label", type="multiclass")
    model, report = fit_task("label", task, features, pd.Series(y), config)
    assert [point["params"] for point in report["search"]] == [
        {"C": 1.0},
        {"C": 1.0, "type": "nb_svm"},
    ]
    best = max(report["search"], key=lambda point: point["macro_f1"])
    assert report["best_params"] == best["params"]
    assert type(model.estimator) is winner


def test_the_weight_round_starts_from_each_model_types_best_point() -> None:
    from pipeline.train import best_per_type

    config = Config()  # model.type linear_svc, scoring macro_f1
    candidates = [{"C": 1.0}, {"C": 0.3}, {"type": "nb_svm", "C": 0.3}, {"type": "nb_svm", "C": 1}]
    results = [{"macro_f1": f} for f in (0.60, 0.62, 0.61, 0.61)]
    assert best_per_type(candidates, results, config) == [1, 2]  # ties: the earlier point
