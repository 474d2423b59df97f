"""strip_accents must give exactly scikit-learn's strip_accents_unicode."""

from __future__ import annotations

import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import strip_accents_unicode

from pipeline.accents import MARKS_END, strip_accents


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_equals_scikit_learn_on_any_text(text: str) -> None:
    assert strip_accents(text) == strip_accents_unicode(text)


def test_equals_scikit_learn_on_news_cases() -> None:
    cases = [
        "plain ascii",
        "Café déjà vu, São Paulo, Zürich, Ærø, İstanbul",
        "He said: “it’s over” — 5 km… ½ ﬁnal",  # curly quotes, ligature, fraction (NFKD)
        "e\u0301 a\u0308 n\u0303 standalone marks \u0301",
        "Ελλάδα, Россия, 日本, עִבְרִית, عَرَبِيّ",
        "lone surrogate \ud800 kept",
        "",
    ]
    for text in cases:
        assert strip_accents(text) == strip_accents_unicode(text), text


def test_no_combining_mark_lies_beyond_the_scanned_range() -> None:
    assert not any(unicodedata.combining(chr(c)) for c in range(MARKS_END, sys.maxunicode + 1))
    assert unicodedata.combining(chr(0x1E94A))  # the last one (Adlam), inside the range
