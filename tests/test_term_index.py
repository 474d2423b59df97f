"""TermIndex: vectorised vocabulary lookups must answer exactly as the dict does."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np

from pipeline.features import WordTfidf
from pipeline.term_index import TermIndex


def test_columns_match_the_dict_for_known_and_unknown_terms() -> None:
    rng = np.random.default_rng(0)
    vocabulary = {f"term{i}": int(c) for i, c in enumerate(rng.permutation(5000))}
    index = TermIndex.build(vocabulary)
    assert index is not None and index.size == 5000
    queries = [f"term{i}" for i in rng.integers(0, 10_000, size=20_000)]
    hashes = np.fromiter(map(hash, queries), np.int64)
    expected = [vocabulary.get(q, -1) for q in queries]
    assert index.columns(hashes).tolist() == expected


def test_long_probe_chains_are_followed() -> None:
    """Hashes that all start at slot 0 fill one run of slots; each is still found."""
    n = 300
    index = TermIndex.from_codes(np.arange(n, dtype=np.int64) * 1024, np.arange(n) + 7)
    assert index is not None and len(index.keys) == 1024
    queries = np.array([0, 1024 * 299, 1024 * 300, 5, -1024], dtype=np.int64)
    assert index.columns(queries).tolist() == [7, 306, -1, -1, -1]


def test_colliding_codes_are_refused() -> None:
    assert TermIndex.from_codes(np.array([3, 9, 3]), np.array([0, 1, 2])) is None


def test_an_empty_vocabulary_finds_nothing() -> None:
    index = TermIndex.build({})
    assert index is not None and index.size == 0
    assert index.columns(np.array([hash("a"), hash("b")])).tolist() == [-1, -1]


def test_a_saved_vectorizer_transforms_alike_under_another_hash_seed(tmp_path) -> None:
    """String hashes are salted per process: the index is rebuilt, never unpickled."""
    docs = ["the army signed an arms deal", "talks on the arms deal stall", "a deal on grain"]
    word = WordTfidf(min_df=1).fit(docs)
    expected = word.transform(docs).toarray()  # builds the index in this process
    path = tmp_path / "word.pkl"
    path.write_bytes(pickle.dumps(word))
    assert "_index" not in pickle.loads(path.read_bytes()).__dict__
    assert "_index" in word.__dict__  # saving does not drop this process's index
    script = (
        "import pickle, sys, numpy as np; "
        f"w = pickle.load(open({str(path)!r}, 'rb')); "
        f"np.save(sys.argv[1], w.transform({docs!r}).toarray())"
    )
    out = tmp_path / "out.npy"
    env = {"PYTHONHASHSEED": "12345", "PATH": ""}
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env)
    assert np.array_equal(np.load(out), expected)


def test_a_refit_forgets_the_previous_index() -> None:
    word = WordTfidf(min_df=1)
    word.fit(["alpha beta", "beta gamma"])
    word.transform(["alpha"])
    word.fit(["delta epsilon", "epsilon zeta"])
    assert word.transform(["delta"]).nnz == 1


def test_ngram_codes_are_the_codes_of_the_joined_terms_within_each_document() -> None:
    from pipeline.term_index import ngram_codes, term_codes

    docs = [["arms", "deal", "signed"], ["talks", "stall"], [], ["lone"]]
    hashes = np.array([hash(w) for doc in docs for w in doc], np.int64)
    doc_of = np.repeat(np.arange(len(docs)), [len(doc) for doc in docs])
    codes, rows = ngram_codes(hashes, doc_of, (1, 3))
    expected = [
        (row, " ".join(doc[i : i + n]))
        for row, doc in enumerate(docs)
        for n in (1, 2, 3)
        for i in range(len(doc) - n + 1)
    ]  # no "signed talks": n-grams never cross documents
    terms = [term for _, term in expected]
    assert sorted(zip(rows.tolist(), codes.tolist(), strict=True)) == sorted(
        zip([row for row, _ in expected], term_codes(terms).tolist(), strict=True)
    )
    bigrams, bigram_rows = ngram_codes(hashes, doc_of, (2, 2))
    assert bigram_rows.tolist() == [0, 0, 1] and len(set(bigrams.tolist())) == 3


def test_colliding_codes_fall_back_to_the_dict(monkeypatch) -> None:
    """A vocabulary whose codes collide (never seen: 64-bit hashes) is looked up by the dict."""
    docs = ["the army signed an arms deal", "talks on the arms deal stall", "a deal on grain"]
    expected = WordTfidf(min_df=1).fit(docs).transform(docs).toarray()
    monkeypatch.setattr(TermIndex, "build", classmethod(lambda cls, vocabulary: None))
    word = WordTfidf(min_df=1).fit(docs)
    assert np.array_equal(word.transform(docs).toarray(), expected)
    assert isinstance(word._term_index(), dict)
