"""Train one classifier per configured task and save it as a single inference pipeline.

Per task: a seeded, cross-validated search over the configured grid (all fits in one parallel
pool, BLAS capped at one thread), calibration and per-label thresholds from the same out-of-fold
scores, then one final fit. The saved `Pipeline` goes from raw text to calibrated scores.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

from pipeline.classifier import CalibratedLinearClassifier, cv_fit
from pipeline.config import Config, TaskConfig
from pipeline.errors import PipelineError, UsageError
from pipeline.features import Features, load_features, word_tfidf
from pipeline.folds import cv_splits
from pipeline.ingest import CLEANER, DUPLICATES, MANIFEST, file_sha256, load_split
from pipeline.io.writers import DIR_MODE, write_json
from pipeline.metrics import score
from pipeline.nbsvm import NBLinearSVC
from pipeline.workers import pool, warming

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib", "ftfy")


@dataclass
class TrainedTask:
    """A trained task: its pipeline, where it was saved, and the search it came from."""

    name: str
    pipeline: Pipeline
    directory: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def base_estimator(config: Config, params: dict[str, Any]) -> Any:
    """The estimator of one grid point: its `type` (else `model.type`) with `model.params` and
    the point's other parameters."""
    m = config.model
    kind = params.get("type", m.type)
    merged = {**m.params, **{k: v for k, v in params.items() if k != "type"}}
    try:
        if kind == "nb_svm":
            return NBLinearSVC(class_weight=m.class_weight, random_state=config.seed, **merged)
        if kind == "linear_svc":
            return LinearSVC(class_weight=m.class_weight, random_state=config.seed, **merged)
        if kind == "logreg":
            merged.setdefault("max_iter", 2000)
            return LogisticRegression(
                class_weight=m.class_weight, random_state=config.seed, **merged
            )
        merged.setdefault("loss", "modified_huber")
        return SGDClassifier(class_weight=m.class_weight, random_state=config.seed, **merged)
    except TypeError as exc:  # a parameter this model type does not take
        raise UsageError(f"model {kind}: {exc}") from exc


def candidate_params(config: Config) -> list[dict[str, Any]]:
    """Grid points to try, grid by grid in order; with search off, the first value of each
    entry of the first grid."""
    grids = config.model.grid if isinstance(config.model.grid, list) else [config.model.grid]
    points: list[dict[str, Any]] = []
    for grid in grids or [{}]:
        keys = sorted(grid)
        if not config.model.search:
            return [{k: grid[k][0] for k in keys}]
        points += [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*(grid[k] for k in keys))
        ]
    return points


def best_index(
    results: list[dict[str, Any]], scoring: str, among: Iterable[int] | None = None
) -> int:
    """The index of the best search result (of those `among`) by `scoring`; ties: the earlier."""
    indices = range(len(results)) if among is None else among
    return max(indices, key=lambda i: (results[i][scoring], -i))


def best_per_type(
    candidates: list[dict[str, Any]], results: list[dict[str, Any]], config: Config
) -> list[int]:
    """The index of each model type's best grid point (ties: the earlier), in grid order."""
    kinds = [params.get("type", config.model.type) for params in candidates]
    return sorted(
        best_index(results, config.model.scoring, [i for i, k in enumerate(kinds) if k == kind])
        for kind in set(kinds)
    )


def ngram_block(vectorizer: Any, n_features: int) -> np.ndarray | None:
    """Which feature columns are the word n-gram block (`WordTfidf`, first in a union), or None
    without one."""
    word = word_tfidf(vectorizer)
    if word is None or not word.is_ngram_.any():
        return None
    mask = np.zeros(n_features, bool)
    mask[: len(word.is_ngram_)] = word.is_ngram_
    return mask


def reweighted(X: sp.csr_matrix, block: np.ndarray, factor: float) -> sp.csr_matrix:
    """X with the `block` columns multiplied by `factor` (a new data array, shared indices)."""
    data = X.data * np.where(block, factor, 1.0)[X.indices]
    return sp.csr_matrix((data, X.indices, X.indptr), shape=X.shape)


def with_ngram_weight(vectorizer: Any, weight: float) -> Any:
    """A copy of the vectorizer whose word n-gram block comes out at `weight`."""
    vectorizer = copy.deepcopy(vectorizer)
    word_tfidf(vectorizer).ngram_weight = weight
    return vectorizer


def encode_targets(values: pd.Series, task: TaskConfig) -> tuple[np.ndarray, list[str]]:
    """Targets as the classifier wants them, and the label list (declared or seen)."""
    if task.type == "multiclass":
        labels = task.labels or sorted(set(values))
        return np.asarray(values.astype(str)), labels
    labels = task.labels or sorted({lab for row in values for lab in row})
    return MultiLabelBinarizer(classes=labels).fit_transform(values), labels


def duplicate_groups(config: Config, ids: pd.Series) -> np.ndarray | None:
    """Per training document, its near-duplicate cluster (from ingest's duplicates.jsonl), so
    cross-validation keeps copies in one fold: pair data (one body against many headlines) and
    re-published stories would otherwise leak across folds and inflate the scores that choose
    the parameters, the calibration and the thresholds. None when no copy was kept."""
    path = Path(config.paths.processed) / DUPLICATES
    if not path.exists():
        return None
    parent = {
        row["id"]: row["duplicate_of"]
        for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())
    }

    def root(rec_id: str) -> str:
        seen = set()
        while rec_id in parent and rec_id not in seen:
            seen.add(rec_id)
            rec_id = parent[rec_id]
        return rec_id

    roots = [root(str(i)) for i in ids]
    if len(set(roots)) == len(roots):
        return None
    return pd.factorize(pd.Series(roots))[0]


def cv_groups(config: Config, train_df: pd.DataFrame) -> np.ndarray | None:
    """Per training document, the group that cross-validation keeps in one fold: its
    near-duplicate cluster, joined with every document sharing its `data.group_field` value
    (a story copied across two outlets joins them). None when every document stands alone."""
    copies = duplicate_groups(config, train_df["id"])
    if not config.data.group_field or "group" not in train_df:
        return copies
    named = pd.factorize(train_df["group"].fillna(train_df["id"]))[0]  # no value: on its own
    if copies is None:
        groups = named
    else:  # connected components of the graph copy cluster — document — named group
        n_copies = copies.max() + 1
        graph = sp.coo_matrix(
            (np.ones(len(copies)), (copies, n_copies + named)),
            shape=(n_copies + named.max() + 1,) * 2,
        )
        groups = connected_components(graph, directed=False)[1][copies]
    n_groups = len(np.unique(groups))
    if n_groups < config.model.cv:
        raise UsageError(
            f"data.group_field '{config.data.group_field}': {n_groups} groups in "
            f"the training split, fewer than model.cv = {config.model.cv} folds"
        )
    return groups


def fit_task(
    name: str,
    task: TaskConfig,
    features: Features,
    y_values: pd.Series,
    config: Config,
    groups: np.ndarray | None = None,
) -> tuple[CalibratedLinearClassifier, dict[str, Any]]:
    """Search, calibrate and fit one task's classifier; returns it and the search report."""
    Y, labels = encode_targets(y_values, task)
    multilabel = task.type == "multilabel"
    if not multilabel and len(np.unique(Y)) < 2:
        raise UsageError(
            f"task {name}: every training document has the class {Y[0]!r}; a classifier "
            f"needs two or more (check the field '{task.field}' and data.train)"
        )
    candidates = candidate_params(config)
    template = CalibratedLinearClassifier(
        multilabel=multilabel,
        cv=config.model.cv,
        tune_thresholds=config.model.tune_thresholds,
        min_labels=config.model.min_labels,
        threshold_min_f1=config.model.threshold_min_f1,
        random_state=config.seed,
        n_jobs=config.model.n_jobs,
    )
    estimators = [
        clone(template).set_params(estimator=base_estimator(config, p)) for p in candidates
    ]
    start = time.perf_counter()
    cv = {"folds": config.model.cv, "seed": config.seed, "n_jobs": config.model.n_jobs}

    def result(params: dict[str, Any], est: CalibratedLinearClassifier, scores: np.ndarray):
        est._fit_calibration(scores, Y, labels)
        predicted = est.decide(est.calibrated(scores))
        cv_metrics = score(Y, predicted, labels=labels, multilabel=multilabel)
        return {
            "params": params,
            **{k: cv_metrics[k] for k in ("accuracy", "macro_f1", "micro_f1")},
        }

    base = config.features.ngram_weight
    block = ngram_block(features.vectorizer, features.n_features) if config.model.search else None
    # a block at weight 0 cannot be rescaled to another
    weights = (
        [w for w in config.model.ngram_weights if w != base] if block is not None and base else []
    )
    # one pool and one set of folds for both rounds: its workers, and the arrays it shares
    # with them, are reused
    splits = cv_splits(Y, config.model.cv, config.seed, groups)
    with pool(config.model.n_jobs) as parallel:  # warmed while the data loaded (`train`)
        # a single candidate (search off) is fitted on all data in the same pool as its folds;
        # each candidate is calibrated as soon as its folds are in, beside the fits still running
        scored: dict[int, dict[str, Any]] = {}
        _, full_fits = cv_fit(
            [e._base() for e in estimators],
            features.X_train,
            Y,
            fit_full=len(estimators) == 1,
            parallel=parallel,
            precomputed=splits,
            scored=lambda k, s: scored.update({k: result(candidates[k], estimators[k], s)}),
            **cv,
        )
        results = [scored[k] for k in range(len(candidates))]
        X_of = [features.X_train] * len(results)
        if weights:
            # each model type's best point with the n-gram block at other weights: short texts
            # want less of the block, whole posts more, and the type that wins can change with
            # it (README "Train")
            tops = best_per_type(candidates, results, config)
            pairs = [(top, w) for top in tops for w in weights]
            weighted = [clone(estimators[top]) for top, _ in pairs]
            extra = [{**candidates[top], "ngram_weight": w} for top, w in pairs]
            X_by = {w: reweighted(features.X_train, block, w / base) for w in weights}
            rescored: dict[int, dict[str, Any]] = {}
            cv_fit(
                [e._base() for e in weighted],
                [X_by[w] for _, w in pairs],
                Y,
                parallel=parallel,
                precomputed=splits,
                scored=lambda k, s: rescored.update({k: result(extra[k], weighted[k], s)}),
                **cv,
            )
            candidates += extra
            results += [rescored[k] for k in range(len(extra))]
            estimators += weighted
            full_fits += [None] * len(extra)
            X_of += [X_by[w] for _, w in pairs]
    best = best_index(results, config.model.scoring)
    chosen = estimators[best].fit_final(X_of[best], Y, fitted=full_fits[best])
    report = {
        "search": results,
        "best_params": candidates[best],
        "cv_metrics": results[best],
        "ngram_weight": candidates[best].get("ngram_weight", base),
        "search_seconds": round(time.perf_counter() - start, 2),
        "labels": labels,
    }
    return chosen, report


def train(
    config: Config, *, features: Features | None = None, key: str = ""
) -> dict[str, TrainedTask]:
    """Train every configured task on the processed train split and save the models.

    `key` fingerprints the inputs (see `run.train_key`) so an unchanged step can be skipped.
    """
    with warming(config.model.n_jobs):  # the workers start while the data and features load
        return _train_tasks(config, features, key)


def _train_tasks(config: Config, features: Features | None, key: str) -> dict[str, TrainedTask]:
    train_df = load_split(config, "train")
    features = features or load_features(config)
    cleaner = joblib.load(Path(config.paths.processed) / CLEANER)
    manifest_hash = json.loads((Path(config.paths.processed) / MANIFEST).read_text())["hash"]
    groups = cv_groups(config, train_df)
    trained: dict[str, TrainedTask] = {}
    for name, task in config.tasks.items():
        start = time.perf_counter()
        classifier, report = fit_task(name, task, features, train_df[name], config, groups)
        vectorizer = features.vectorizer
        if report["ngram_weight"] != config.features.ngram_weight:
            vectorizer = with_ngram_weight(vectorizer, report["ngram_weight"])
        pipe = Pipeline([("clean", cleaner), ("tfidf", vectorizer), ("classifier", classifier)])
        metadata = {
            "task": name,
            "type": task.type,
            "field": task.field,
            "labels": report["labels"],
            "text_fields": config.data.text_fields,
            "fields": config.data.fields,
            "id_field": config.data.id_field,
            "best_params": report["best_params"],
            "ngram_weight": report["ngram_weight"],
            "cv_metrics": report["cv_metrics"],
            "calibration": classifier.calibration_,  # logistic | vector_scaling | platt
            # documents kept together in cross-validation (copies, data.group_field); None: free
            "cv_groups": None if groups is None else len(np.unique(groups)),
            "search": report["search"],
            "train_seconds": round(time.perf_counter() - start, 2),
            "n_train": len(train_df),
            "n_features": features.n_features,
            "data_manifest_hash": manifest_hash,
            "seed": config.seed,
            "train_key": key,
            "config": config.model_dump(mode="json"),
            "libraries": {lib: version(lib) for lib in LIBRARIES},
            "python": platform.python_version(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if task.type == "multilabel":
            metadata["thresholds"] = dict(
                zip(report["labels"], classifier.thresholds_.round(4).tolist(), strict=True)
            )
        directory = save_model(pipe, metadata, Path(config.paths.models) / name)
        trained[name] = TrainedTask(name, pipe, directory, metadata)
    return trained


def save_model(pipe: Pipeline, metadata: dict[str, Any], directory: Path) -> Path:
    """Write model + metadata into a temp folder, then swap it in: never a half-written model."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    tmp.chmod(DIR_MODE)
    try:
        joblib.dump(pipe, tmp / MODEL_FILE, compress=3)
        metadata = {**metadata, "sha256": file_sha256(tmp / MODEL_FILE)}
        write_json(tmp / METADATA_FILE, metadata)
        old = directory.with_name(f".{directory.name}.old")
        if directory.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def load_model(directory: Path) -> tuple[Pipeline, dict[str, Any]]:
    """Load a saved model after checking its checksum against its metadata."""
    meta_path, model_path = directory / METADATA_FILE, directory / MODEL_FILE
    if not meta_path.exists() or not model_path.exists():
        raise UsageError(
            f"{directory}: no saved model here (expected {MODEL_FILE} and {METADATA_FILE})"
        )
    metadata = json.loads(meta_path.read_text())
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    if digest != metadata.get("sha256"):
        raise PipelineError(
            f"{model_path}: checksum does not match metadata.json (corrupt or replaced)"
        )
    return joblib.load(model_path), metadata
