"""Accent stripping as scikit-learn's `strip_accents_unicode` does it, vectorised.

scikit-learn decomposes a non-ASCII text (NFKD) and then drops the combining marks with a Python
loop over every character: about 60 ns a character, 0.35 ms for one 5.7 KB AllSides article that
holds a single curly quote, more than the tokenizer costs. Here the decomposed text's code points
are tested against a table of combining marks in one numpy step.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import cache

import numpy as np

# every combining mark lies below this (Unicode 14: the last is U+1E94A; tested): the table is
# built in 20 ms, not the 140 ms of a scan of all 1.1M code points
MARKS_END = 0x20000


@cache
def _combining_marks() -> np.ndarray:
    """Per code point, whether `unicodedata.combining` is non-zero (built once)."""
    table = np.zeros(sys.maxunicode + 1, dtype=bool)
    table[[c for c in range(MARKS_END) if unicodedata.combining(chr(c))]] = True
    return table


def strip_accents(text: str) -> str:
    """`sklearn.feature_extraction.text.strip_accents_unicode(text)`, same result (tested)."""
    if text.isascii():
        return text
    normalized = unicodedata.normalize("NFKD", text)
    codes = np.frombuffer(normalized.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    marks = _combining_marks()[codes]
    if not marks.any():
        return normalized
    return codes[~marks].tobytes().decode("utf-32-le", "surrogatepass")
