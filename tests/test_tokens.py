"""word_tokenizer must find exactly the words scikit-learn's TfidfVectorizer finds."""

from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.tokens import word_tokenizer


def _sklearn(lowercase: bool):
    vec = TfidfVectorizer(lowercase=lowercase, strip_accents="unicode")
    preprocess, tokenize = vec.build_preprocessor(), vec.build_tokenizer()
    return lambda text: tokenize(preprocess(text))


# ASCII punctuation and digits, accented and non-Latin letters, non-ASCII punctuation and
# spaces, marks, ligatures, superscripts, surrogates: each path of the tokenizer and its seams
_ALPHABET = st.sampled_from(
    list("aZ09_ -.,'/\n\t\x0b\x1c")
    + list("éÜßøłæŒİıﬁ²½™℡ΣσЖж日本ـ\u0301\u0308\u00a0\u2014\u2019\u201c\u2026\u2028\ud800€")
)


@pytest.mark.parametrize("lowercase", [True, False])
@settings(max_examples=400, deadline=None)
@given(text=st.text(_ALPHABET, max_size=40) | st.text(max_size=40))
def test_same_words_as_scikit_learn(lowercase: bool, text: str) -> None:
    assert word_tokenizer(lowercase)(text) == _sklearn(lowercase)(text)


def test_same_words_on_real_news(shared_datasets: Path) -> None:
    """Real articles of every corpus, ASCII and not (curly quotes, dashes, accented names)."""
    ours, theirs = word_tokenizer(), _sklearn(True)
    fast_path = 0
    for path in sorted(shared_datasets.glob("*/train.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in islice(lines, 300):
                record = json.loads(line)
                text = "\n".join(str(v) for k, v in record.items() if isinstance(v, str))
                assert ours(text) == theirs(text), (path, record.get("id"))
                fast_path += text.isascii()
    assert fast_path > 0


def test_letters_that_accent_stripping_makes_stay_as_scikit_learn_cases_them() -> None:
    """scikit-learn lowercases before it strips accents: "™" then leaves "TM"."""
    for lowercase in (True, False):
        for text in ["Rigor™ and ℡ 24/7", "Café™ — “quoted”", "ﬁnal ½ Ⅸ"]:
            assert word_tokenizer(lowercase)(text) == _sklearn(lowercase)(text), text
