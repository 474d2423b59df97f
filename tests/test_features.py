"""WordTfidf counts terms its own way (faster); its matrices must be scikit-learn's, bit for bit."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline import features
from pipeline.config import FeaturesConfig
from pipeline.counting import count_matrix, in_threads
from pipeline.features import WordTfidf
from pipeline.tokens import word_tokenizer

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "articles.jsonl"
NEW_DOCS = ["", "zzqx unseenword", "Éléphant CAFÉ naïve — “quoted” arms deal", "arms arms arms"]


@pytest.fixture(scope="module")
def docs() -> list[str]:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    return [f"{r.get('title', '')}\n{r.get('text', '')}" for r in rows]


def reference(docs: list[str], new: list[str], **params: Any) -> tuple[Any, ...]:
    """WordTfidf as scikit-learn computes it: one TfidfVectorizer, then each block's min_df."""
    word = WordTfidf(**params)
    counted = TfidfVectorizer(
        ngram_range=word.ngram_range,
        min_df=min(word.min_df, word.unigram_min_df),
        max_df=word.max_df,
        max_features=word.max_features,
        sublinear_tf=word.sublinear_tf,
        lowercase=word.lowercase,
        strip_accents="unicode",
        norm=None,
    )
    T = counted.fit_transform(docs).tocsc()
    terms = counted.get_feature_names_out()
    is_ngram = np.char.find(terms.astype(str), " ") >= 0
    df = np.diff(T.indptr)
    keep = np.flatnonzero(np.where(is_ngram, df >= word.min_df, df >= word.unigram_min_df))
    fixed = TfidfVectorizer(
        vocabulary=terms[keep].tolist(),
        ngram_range=word.ngram_range,
        sublinear_tf=word.sublinear_tf,
        lowercase=word.lowercase,
        strip_accents="unicode",
        norm=None,
    )
    fixed.idf_ = counted.idf_[keep]
    word.vectorizer_, word.is_ngram_ = fixed, is_ngram[keep]  # only to borrow `_blocks`
    return (
        terms[keep].tolist(),
        counted.idf_[keep],
        word._blocks(T[:, keep].tocsr()),
        word._blocks(sp.csr_matrix(fixed.transform(new))),
    )


def assert_identical(A: sp.spmatrix, B: sp.spmatrix) -> None:
    A, B = sp.csr_matrix(A), sp.csr_matrix(B)
    assert A.shape == B.shape
    assert np.array_equal(A.indptr, B.indptr)
    assert np.array_equal(A.indices, B.indices)
    assert np.array_equal(A.data, B.data)  # bit for bit, not approximately


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"max_df": 0.9, "ngram_weight": 0.3},
        {"ngram_range": (1, 3), "min_df": 3, "unigram_min_df": 2},
        {"ngram_range": (2, 3)},
        {"ngram_range": (1, 1), "sublinear_tf": False},
        {"max_features": 300, "max_df": 0.5},
        {"lowercase": False, "min_df": 1},
    ],
)
@pytest.mark.parametrize("batch_bytes", [1 << 20, 4096])  # one batch; many, counted in threads
def test_word_tfidf_is_scikit_learn_bit_for_bit(
    docs: list[str], params: dict, batch_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(features, "_BATCH_BYTES", batch_bytes)
    docs = [*docs, "", "Arms", "!!"]  # empty, shorter than an n-gram, no word at all
    terms, idf, X_train, X_new = reference(docs, NEW_DOCS + docs[:3], **params)
    word = WordTfidf(**params)
    fitted = word.fit_transform(pd.Series(docs))
    assert list(word.vocabulary_) == terms  # same columns in the same order
    assert np.array_equal(word.vectorizer_.idf_, idf)
    assert_identical(fitted, X_train)
    assert_identical(word.transform(NEW_DOCS + docs[:3]), X_new)
    assert_identical(word.transform(docs), fitted)


def test_word_tfidf_refuses_what_scikit_learn_refuses(docs: list[str]) -> None:
    with pytest.raises(ValueError, match="no terms remain"):
        WordTfidf(ngram_range=(2, 2), min_df=10_000).fit(docs)
    with pytest.raises(ValueError, match="max_df corresponds"):
        WordTfidf(min_df=5, unigram_min_df=5, max_df=0.001).fit(docs)
    with pytest.raises(ValueError, match="empty vocabulary"):
        WordTfidf().fit(["", "!!"])
    with pytest.raises(ValueError, match="ngram_range"):
        WordTfidf(ngram_range=(2, 1)).fit(docs)
    with pytest.raises(ValueError, match="must be strings"):
        WordTfidf().fit([*docs, float("nan")])
    with pytest.raises(ValueError, match="single string"):
        WordTfidf().fit("one document")
    with pytest.raises(ValueError, match="single string"):
        WordTfidf().fit(docs).transform("one document")


def test_a_saved_vectorizer_keeps_its_vocabulary_as_one_string(tmp_path: Path) -> None:
    """joblib pickles a list or dict of terms object by object in Python (seconds for a large
    vocabulary); the saved state holds them as one string, and loads back the same."""
    docs = ["the army signed an arms deal", "talks on the arms deal stall", "a deal on grain"]
    word = WordTfidf(min_df=1).fit(docs)
    state = word.__getstate__()
    assert isinstance(state["terms_"], str)
    assert state["vectorizer_"].vocabulary is None and word.vectorizer_.vocabulary is not None
    joblib.dump(word, tmp_path / "word.joblib", compress=3)
    loaded = joblib.load(tmp_path / "word.joblib")
    assert loaded.vocabulary_ == word.vocabulary_
    assert loaded.vectorizer_.vocabulary == word.vectorizer_.vocabulary
    assert list(loaded.vectorizer_.get_feature_names_out()) == list(
        word.vectorizer_.get_feature_names_out()
    )
    assert (loaded.transform(docs) != word.transform(docs)).nnz == 0


def test_in_threads_keeps_the_order_and_bounds_what_is_pending() -> None:
    started: list[int] = []

    def slow_square(i: int) -> int:
        started.append(i)
        return i * i

    results = in_threads(slow_square, range(100), threads=2)
    assert [next(results) for _ in range(3)] == [0, 1, 4]
    assert len(started) <= 3 + 2 * 2  # the next few are under way, not all hundred
    assert list(results) == [i * i for i in range(3, 100)]
    assert list(in_threads(slow_square, [7], threads=4)) == [49]


def test_the_lead_block_is_tfidf_of_each_documents_first_words(docs: list[str]) -> None:
    word = WordTfidf(lead_words=8, lead_weight=0.5).fit(docs)
    plain = WordTfidf().fit(docs)
    new = [*NEW_DOCS, "Arms deal signed. " + "deal " * 20, docs[0]]
    X, width = word.transform(new), len(plain.vocabulary_)
    assert word.vocabulary_ == plain.vocabulary_
    assert np.array_equal(X[:, :width].toarray(), plain.transform(new).toarray())
    tokenize = word_tokenizer(True)
    leads = [" ".join(tokenize(doc)[:8]) for doc in docs]
    terms = np.array(list(plain.vectorizer_.get_feature_names_out()))
    # the vocabulary's single words seen in some document's first 8 words
    in_leads = {t for lead in leads for t in tokenize(lead)} & set(terms[~plain.is_ngram_])
    assert set(terms[word.lead_columns_]) == in_leads
    reference = TfidfVectorizer(
        sublinear_tf=True, strip_accents="unicode", vocabulary=terms[word.lead_columns_]
    ).fit(leads)
    expected = 0.5 * reference.transform([" ".join(tokenize(doc)[:8]) for doc in new])
    assert np.allclose(X[:, width:].toarray(), expected.toarray(), rtol=1e-12, atol=0)
    norms = np.sqrt(np.asarray(X[:, width:].multiply(X[:, width:]).sum(axis=1)).ravel())
    assert np.allclose(norms, [0, 0, 0.5, 0.5, 0.5, 0.5])  # no known word: an empty block
    assert np.array_equal(word.fit_transform(docs).toarray(), word.transform(docs).toarray())


@pytest.mark.parametrize(
    ("words", "weight", "lead"), [(64, 0.5, True), (None, 0.5, False), (64, 0, False)]
)
def test_the_lead_block_is_configured_or_off(words: int | None, weight: float, lead: bool) -> None:
    config = FeaturesConfig(lead_words=words, lead_weight=weight, char_ngrams=None)
    vectorizer = features.build_vectorizer(config)
    X = vectorizer.fit_transform(["arms deal signed", "grain deal talks", "arms talks"])
    assert (X.shape[1] > len(vectorizer.vocabulary_)) == lead


def test_counts_are_the_same_with_32_and_64_bit_cells() -> None:
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, 50, 2000))
    columns = rng.integers(-1, 300, 2000)  # -1: a term not in the vocabulary
    narrow = count_matrix(rows, columns, 50, 300)
    wide = count_matrix(rows, columns, 50, (1 << 32) // 50 + 1)  # 64-bit cells
    assert np.array_equal(narrow.indptr, wide.indptr)
    assert np.array_equal(narrow.indices, wide.indices)
    assert np.array_equal(narrow.data, wide.data)
    expected = np.zeros((50, 300))
    np.add.at(expected, (rows[columns >= 0], columns[columns >= 0]), 1)
    assert np.array_equal(narrow.toarray(), expected)


def test_a_vectorizer_saved_before_the_lead_block_loads_and_transforms_as_before(
    docs: list[str],
) -> None:
    word = WordTfidf().fit(docs)
    expected = word.transform(NEW_DOCS).toarray()
    for name in ("lead_words", "lead_weight", "lead_columns_"):  # what older models lack
        delattr(word, name)
    loaded = pickle.loads(pickle.dumps(word))
    assert np.array_equal(loaded.transform(NEW_DOCS).toarray(), expected)


def test_a_lead_block_without_single_words_is_empty() -> None:
    """Bigrams only: no word of a lead is in the vocabulary, and the block has no column."""
    word = WordTfidf(ngram_range=(2, 2), min_df=1, lead_words=3)
    X = word.fit_transform(["arms deal signed today", "grain deal talks stall", "arms talks"])
    assert X.shape == (3, len(word.vocabulary_)) and word.lead_columns_.size == 0
    assert word.transform(["arms deal"]).shape == (1, X.shape[1])
