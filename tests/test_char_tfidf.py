"""CharTfidf finds n-grams with numpy; its matrices must be scikit-learn's `char_wb` ones."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.char_tfidf import CharTfidf, char_codes, ngram_names
from pipeline.config import FAST, Config, FeaturesConfig, set_dotted
from pipeline.features import WordTfidf, build_vectorizer
from pipeline.tokens import word_bytes

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "articles.jsonl"
HEADLINES = [
    "Re: Arms deal signed in Paris",
    "UN envoy: talks on sanctions resume\tnext week",
    "a b c -- I.B.M. sells\nunits",
    "Arms embargo lifted?",
    "Sanctions: EU extends arms embargo",
    "x",
    "",
    "Talks resume; envoy hopeful",
]
NEW = ["armsdeal envoys", "", "Q", "Embargoes and sanctions, again", "zzq talks zzq ZZQ"]


def sklearn_char(ngram_range: tuple[int, int], min_df: int = 1) -> TfidfVectorizer:
    """scikit-learn's char_wb TF-IDF over the words `word_bytes` finds (lowercased)."""
    spaced = word_bytes()
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=ngram_range,
        min_df=min_df,
        sublinear_tf=True,
        preprocessor=lambda doc: spaced(doc).decode(),
        dtype=np.float64,
    )


@pytest.mark.parametrize("ngram_range", [(2, 5), (3, 4), (4, 6), (2, 7)])
@pytest.mark.parametrize("min_df", [1, 2])
def test_matches_scikit_learn_char_wb(ngram_range: tuple[int, int], min_df: int) -> None:
    """Same vocabulary (in order), same fitted and new-document matrices; (4, 6) and (2, 7)
    take short words whole, as scikit-learn does."""
    ours = CharTfidf(ngram_range, min_df=min_df)
    theirs = sklearn_char(ngram_range, min_df)
    fitted, expected = ours.fit_transform(HEADLINES), theirs.fit_transform(HEADLINES)
    assert ours.get_feature_names_out().tolist() == theirs.get_feature_names_out().tolist()
    assert ours.vocabulary_ == theirs.vocabulary_
    np.testing.assert_allclose(fitted.toarray(), expected.toarray(), atol=1e-12)
    np.testing.assert_allclose(
        ours.transform(NEW).toarray(), theirs.transform(NEW).toarray(), atol=1e-12
    )


def test_matches_on_articles_and_survives_pickling() -> None:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    docs = [f"{r.get('title', '')}\n{r.get('text', '')}" for r in rows]
    ours = CharTfidf((2, 5), min_df=2)
    X = ours.fit_transform(docs[:40])
    theirs = sklearn_char((2, 5), 2).fit(docs[:40])
    assert X.shape[1] == len(theirs.vocabulary_) > 1000
    np.testing.assert_allclose(
        ours.transform(docs[40:]).toarray(), theirs.transform(docs[40:]).toarray(), atol=1e-12
    )
    ours.transform(docs[:2])  # builds the lookup tables, which are not saved
    assert ours._word_table() is not None
    loaded = pickle.loads(pickle.dumps(ours))
    assert "_index" not in loaded.__dict__ and "_words" not in loaded.__dict__
    assert (loaded.transform(docs) != ours.transform(docs)).nnz == 0


def test_beyond_ascii_counts_bytes_consistently() -> None:
    docs = ["Zürich Ωmega naïve", "Ωmega talks", "Zürich talks"]
    ours = CharTfidf((2, 4))
    X = ours.fit_transform(docs)
    assert (ours.transform(docs) != X).nnz == 0
    assert all(isinstance(name, str) for name in ours.get_feature_names_out())


def test_no_columns_for_long_documents() -> None:
    """Above `max_median_chars` the block is empty, and the union's matrix is the words'."""
    long_docs = [text * 20 for text in HEADLINES]
    char = CharTfidf((2, 5), max_median_chars=200)
    assert char.fit_transform(long_docs).shape == (len(long_docs), 0)
    assert char.transform(NEW).shape == (len(NEW), 0)
    union = build_vectorizer(FeaturesConfig(min_df=1))
    words = WordTfidf(min_df=1, max_df=0.9, lead_words=64)
    assert (union.fit_transform(long_docs) != words.fit_transform(long_docs)).nnz == 0
    # short documents: the character block follows the words
    short = build_vectorizer(FeaturesConfig(min_df=1)).fit_transform(HEADLINES)
    assert short.shape[1] > words.fit_transform(HEADLINES).shape[1]


def test_codes_and_names() -> None:
    codes, at = char_codes(b"ab  c", (2, 3))
    names = ngram_names(codes)
    assert sorted(names) == sorted([" a", "ab", "b ", " ab", "ab ", " c", "c ", " c "])
    assert {name: int(offset) for name, offset in zip(names, at, strict=True)}[" c"] == 4


def test_invalid_range_and_defaults() -> None:
    with pytest.raises(ValueError, match="char n-gram range"):
        CharTfidf((1, 3)).fit(HEADLINES)
    with pytest.raises(ValueError, match="char n-gram range"):
        CharTfidf((3, 8)).fit(HEADLINES)
    cfg = FeaturesConfig()
    assert cfg.char_ngrams == (2, 5) and cfg.char_max_median_chars == 200
    raw = Config().model_dump(mode="json")
    for key, value in FAST.items():
        set_dotted(raw, key, value)
    assert Config.model_validate(raw).features.char_ngrams is None


def test_tiny_and_empty_inputs() -> None:
    """Nothing reaching min_df gives no columns (the words still fit); an empty batch no rows."""
    union = build_vectorizer(FeaturesConfig())
    words = build_vectorizer(FeaturesConfig(char_ngrams=None)).fit_transform(["grain", "arms"])
    assert (union.fit_transform(["grain", "arms"]) != words).nnz == 0
    assert union.transform([]).shape == (0, words.shape[1])
    char = CharTfidf((2, 5), min_df=1).fit(["arms deal", "deal"])
    assert char.transform([]).shape == (0, len(char.vocabulary_))


def test_long_words_are_cut_not_looked_up() -> None:
    """Words beyond 64 bytes never go by their hash: two 2 KB Thue-Morse strings share a
    polynomial hash, and each must still get its own n-grams."""
    word = "a"
    for _ in range(11):
        word += word.translate(str.maketrans("ab", "ba"))
    other = word.translate(str.maketrans("ab", "ba"))
    char = CharTfidf((2, 3), min_df=1)
    char.fit([word, "ba ab"])
    theirs = sklearn_char((2, 3)).fit([word, "ba ab"])
    np.testing.assert_allclose(
        char.transform([other]).toarray(), theirs.transform([other]).toarray(), atol=1e-12
    )
    # both unseen, in one batch: each its own n-grams, not one row for their shared hash
    char.fit(["ba ab", "abba"])
    theirs.fit(["ba ab", "abba"])
    np.testing.assert_allclose(
        char.transform([word, other, f"{word} {other}"]).toarray(),
        theirs.transform([word, other, f"{word} {other}"]).toarray(),
        atol=1e-12,
    )


def test_config_rejects_char_ranges_it_cannot_count() -> None:
    for bad in ([1, 3], [3, 8], [4, 3]):
        with pytest.raises(ValueError, match="char_ngrams"):
            FeaturesConfig(char_ngrams=bad)
