"""TF-IDF features, fitted on the training split only and cached for the train step."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from pipeline.config import Config, FeaturesConfig
from pipeline.ingest import MANIFEST, load_split
from pipeline.io.writers import atomic_path, write_json

FEATURES_DIR = "features"


def build_vectorizer(cfg: FeaturesConfig) -> TransformerMixin:
    """Word n-gram TF-IDF, plus character n-grams when configured (robust to lost letters)."""
    common = {
        "min_df": cfg.min_df,
        "max_df": cfg.max_df,
        "sublinear_tf": cfg.sublinear_tf,
        "lowercase": cfg.lowercase,
        "max_features": cfg.max_features,
        "dtype": np.float32,
    }
    word = TfidfVectorizer(ngram_range=tuple(cfg.word_ngrams), strip_accents="unicode", **common)
    if cfg.char_ngrams is None:
        return word
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(cfg.char_ngrams), **common)
    return FeatureUnion([("word", word), ("char", char)])


@dataclass
class Features:
    """The fitted vectorizer and the train/test matrices it produced."""

    vectorizer: TransformerMixin
    X_train: sp.csr_matrix
    X_test: sp.csr_matrix
    stamp: str

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def features_dir(config: Config) -> Path:
    return Path(config.paths.processed) / FEATURES_DIR


def _stamp(config: Config) -> str:
    manifest = json.loads((Path(config.paths.processed) / MANIFEST).read_text())
    return f"{manifest['hash'][:16]}-{config.section_hash('features')}"


def build_features(config: Config) -> Features:
    """Fit TF-IDF on the processed train split, transform both splits, and cache the result."""
    train, test = load_split(config, "train"), load_split(config, "test")
    vectorizer = build_vectorizer(config.features)
    X_train = sp.csr_matrix(vectorizer.fit_transform(train["text"].tolist()))
    X_test = sp.csr_matrix(vectorizer.transform(test["text"].tolist()))
    out = features_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stamp.json").unlink(missing_ok=True)
    for name, X in (("X_train.npz", X_train), ("X_test.npz", X_test)):
        with atomic_path(out / name) as tmp:
            sp.save_npz(tmp.with_suffix(".npz"), X)
            tmp.with_suffix(".npz").replace(tmp)
    with atomic_path(out / "vectorizer.joblib") as tmp:
        joblib.dump(vectorizer, tmp)
    stamp = _stamp(config)
    write_json(out / "stamp.json", {"stamp": stamp, "n_features": X_train.shape[1]})
    return Features(vectorizer, X_train, X_test, stamp)


def load_features(config: Config) -> Features:
    """The cached features if they match the processed data and features config, else rebuilt."""
    out = features_dir(config)
    try:
        saved = json.loads((out / "stamp.json").read_text())["stamp"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        saved = None
    if saved is None or saved != _stamp(config):
        return build_features(config)
    return Features(
        joblib.load(out / "vectorizer.joblib"),
        sp.load_npz(out / "X_train.npz").tocsr(),
        sp.load_npz(out / "X_test.npz").tocsr(),
        saved,
    )
