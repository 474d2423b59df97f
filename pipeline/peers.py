"""The peers `pipeline bench` measures the project against, as users would write them.

(a) scikit-learn: `TfidfVectorizer(sublinear_tf=True)` + `LinearSVC()` (one-vs-rest for label
sets), library defaults otherwise. (b) fastText supervised: shuffled training file, `wordNgrams=2,
epoch=25, lr=0.5`; `loss="ova"` and a 0.5 probability threshold for label sets.
Both see the same documents as the project (the configured text fields joined by newlines), raw.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any, Protocol

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

Labels = list[str] | list[list[str]]  # one label per document, or one label list per document
SKLEARN_FILE = "sklearn.joblib"


class Peer(Protocol):
    """What the benchmark needs from a peer: fit, predict, and its saved size."""

    def fit(self, docs: list[str], labels: Labels) -> None: ...
    def predict(self, docs: list[str]) -> Labels: ...
    def save(self, directory: Path) -> int: ...


class SklearnPeer:
    """The hand-written scikit-learn script: TF-IDF (sublinear tf) + LinearSVC."""

    def __init__(self, multilabel: bool) -> None:
        self.multilabel = multilabel
        self.binarizer = MultiLabelBinarizer()
        svc: Any = OneVsRestClassifier(LinearSVC()) if multilabel else LinearSVC()
        self.model: Pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True), svc)

    def fit(self, docs: list[str], labels: Labels) -> None:
        y = self.binarizer.fit_transform(labels) if self.multilabel else labels
        self.model.fit(docs, y)

    def predict(self, docs: list[str]) -> Labels:
        predicted = self.model.predict(docs)
        if self.multilabel:
            return [list(row) for row in self.binarizer.inverse_transform(predicted)]
        return [str(label) for label in predicted]

    def save(self, directory: Path) -> int:
        """Saved like the project's models (joblib, compress=3); returns the bytes written."""
        path = directory / SKLEARN_FILE
        joblib.dump((self.model, self.binarizer), path, compress=3)
        return path.stat().st_size

    @classmethod
    def load(cls, directory: Path, multilabel: bool) -> SklearnPeer:
        """The peer `save` wrote into `directory`."""
        peer = cls(multilabel)
        peer.model, peer.binarizer = joblib.load(directory / SKLEARN_FILE)
        return peer


_WHITESPACE = re.compile(r"\s+")
_PREFIX = "__label__"


def fasttext_line(doc: str) -> str:
    """fastText reads one document per line: all whitespace becomes single spaces."""
    return _WHITESPACE.sub(" ", doc).strip()


class FastTextPeer:
    """fastText supervised, trained from a shuffled file as its documentation advises."""

    def __init__(self, multilabel: bool, work_dir: Path, seed: int = 42) -> None:
        self.multilabel = multilabel
        self.work_dir = work_dir
        self.seed = seed
        self.model: Any = None

    def fit(self, docs: list[str], labels: Labels) -> None:
        import fasttext

        lines = []
        for doc, value in zip(docs, labels, strict=True):
            names = value if isinstance(value, list) else [value]
            tags = " ".join(_PREFIX + _WHITESPACE.sub("_", name) for name in names)
            lines.append(f"{tags} {fasttext_line(doc)}\n")
        random.Random(self.seed).shuffle(lines)  # class-sorted input trains to near chance
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / "fasttext.train.txt"
        path.write_text("".join(lines), encoding="utf-8")
        self.names = {
            _PREFIX + _WHITESPACE.sub("_", n): n
            for value in labels
            for n in (value if isinstance(value, list) else [value])
        }
        self.model = fasttext.train_supervised(
            input=str(path),
            wordNgrams=2,
            epoch=25,
            lr=0.5,
            loss="ova" if self.multilabel else "softmax",
            thread=os.cpu_count() or 1,
            seed=self.seed,
            verbose=0,
        )
        path.unlink()

    def predict(self, docs: list[str]) -> Labels:
        lines = [fasttext_line(doc) for doc in docs]
        if self.multilabel:
            found, _ = self.model.predict(lines, k=-1, threshold=0.5)
            return [[self.names[tag] for tag in tags] for tags in found]
        found, _ = self.model.predict(lines, k=1)
        return [self.names[tags[0]] for tags in found]

    def save(self, directory: Path) -> int:
        path = directory / "fasttext.bin"
        self.model.save_model(str(path))
        return path.stat().st_size


def make_peer(name: str, *, multilabel: bool, work_dir: Path, seed: int) -> Peer:
    """A fresh, unfitted peer by name (`sklearn` or `fasttext`)."""
    if name == "sklearn":
        return SklearnPeer(multilabel)
    if name == "fasttext":
        return FastTextPeer(multilabel, work_dir, seed)
    raise ValueError(f"unknown peer {name!r}")


PEERS = ("sklearn", "fasttext")


def as_arrays(values: Labels, labels: list[str], multilabel: bool) -> np.ndarray:
    """Predictions or truths as `pipeline.metrics.score` wants them."""
    if multilabel:
        return MultiLabelBinarizer(classes=labels).fit_transform(
            [[v for v in row if v in labels] for row in values]
        )
    return np.asarray(values, dtype=object).astype(str)
