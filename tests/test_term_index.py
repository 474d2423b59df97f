"""TermIndex: vectorised vocabulary lookups must answer exactly as the dict does."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from pipeline.features import WordTfidf
from pipeline.term_index import TermIndex, ngram_codes, term_codes, token_codes


def test_columns_match_the_dict_for_known_and_unknown_terms() -> None:
    rng = np.random.default_rng(0)
    vocabulary = {f"term{i}": int(c) for i, c in enumerate(rng.permutation(5000))}
    index = TermIndex.build(vocabulary)
    assert index is not None and index.size == 5000
    queries = [f"term{i}" for i in rng.integers(0, 10_000, size=20_000)]
    hashes = term_codes(queries)
    expected = [vocabulary.get(q, -1) for q in queries]
    assert index.columns(hashes).tolist() == expected


def test_long_probe_chains_are_followed() -> None:
    """Hashes that all start at slot 0 fill one run of slots; each is still found."""
    n = 300
    index = TermIndex.from_codes(np.arange(n, dtype=np.int64) * 2048, np.arange(n) + 7)
    assert index is not None and index.mask + 1 == 2048  # slots: 4x the terms, rounded up
    queries = np.array([0, 2048 * 299, 2048 * 300, 5, -2048], dtype=np.int64)
    assert index.columns(queries).tolist() == [7, 306, -1, -1, -1]


def test_colliding_codes_are_refused() -> None:
    assert TermIndex.from_codes(np.array([3, 9, 3]), np.array([0, 1, 2])) is None


def test_an_empty_vocabulary_finds_nothing() -> None:
    index = TermIndex.build({})
    assert index is not None and index.size == 0
    assert index.columns(np.array([hash("a"), hash("b")])).tolist() == [-1, -1]
    # a free slot holds code 0: the code 0 is still unknown there
    assert index.columns(np.array([0, 16, -16], dtype=np.int64)).tolist() == [-1, -1, -1]


def test_a_saved_vectorizer_transforms_alike_under_another_hash_seed(tmp_path) -> None:
    """The index is rebuilt in each process, never unpickled, and codes do not depend on the
    process's string hash salt."""
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
    docs = [["arms", "deal", "signed"], ["talks", "stall"], [], ["lone"]]
    hashes = term_codes([w for doc in docs for w in doc])
    doc_of = np.repeat(np.arange(len(docs)), [len(doc) for doc in docs])
    codes, rows, first, order = ngram_codes(hashes, doc_of, (1, 3))
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
    words = [w for doc in docs for w in doc]  # each occurrence's words, from first and order
    spelled = [" ".join(words[j : j + n]) for j, n in zip(first, order, strict=True)]
    assert term_codes(spelled).tolist() == codes.tolist()
    bigrams, bigram_rows, _, _ = ngram_codes(hashes, doc_of, (2, 2))
    assert bigram_rows.tolist() == [0, 0, 1] and len(set(bigrams.tolist())) == 3


@pytest.mark.parametrize("lead_words", [0, 3])
def test_colliding_codes_fall_back_to_the_dict(monkeypatch, lead_words: int) -> None:
    """Codes that collide (never seen: 64-bit hashes) make the fit count terms by their strings
    and the transform look them up in the dict: the same matrices, the lead block's too."""
    docs = ["the army signed an arms deal", "talks on the arms deal stall", "a deal on grain"]
    word = WordTfidf(min_df=1, lead_words=lead_words)
    expected = word.fit_transform(docs).toarray(), word.transform(docs[::-1]).toarray()
    monkeypatch.setattr(TermIndex, "from_codes", classmethod(lambda cls, codes, columns: None))
    word = WordTfidf(min_df=1, lead_words=lead_words)
    assert np.array_equal(word.fit_transform(docs).toarray(), expected[0])
    assert np.array_equal(word.transform(docs[::-1]).toarray(), expected[1])
    assert isinstance(word._term_index(), dict)


def test_token_codes_hash_each_token_of_a_buffer_as_on_its_own() -> None:
    words = ["arms", "a", "deal", "zürich", "x", "_9", "deal"]
    data = "  ".join(words).encode() + b" "
    codes, starts, ends = token_codes(data, min_bytes=2)
    kept = [w for w in words if len(w.encode()) >= 2]
    assert codes.tolist() == term_codes(kept).tolist()
    assert [data[s:e].decode() for s, e in zip(starts, ends, strict=True)] == kept
    assert codes[1] == codes[4] and len(set(codes.tolist())) == 4  # "deal" twice, one code
    assert token_codes(b"", 2)[0].size == 0 and token_codes(b"   ")[0].size == 0


def test_token_codes_do_not_depend_on_the_buffer_around_them() -> None:
    """Long buffers (power tables grown) and a token's position change nothing."""
    alone = token_codes(b"sanctions")[0]
    far = token_codes(b"x " * 200_000 + b"sanctions")[0][-1:]
    assert alone.tolist() == far.tolist()
