"""Character n-grams of words (scikit-learn's `char_wb` analyzer), counted with numpy.

Short texts (headlines, subject lines) have few words each, and character n-grams let words that
share a stem, an inflection or a misspelling count together: on 20NG subject lines scikit-learn's
word TF-IDF + LinearSVC reaches 0.7076, with a `char_wb` (2, 5) block beside the words 0.7234.
scikit-learn's analyzer builds every n-gram as a Python string (22k subject lines/s against 253k
for its words). Here an n-gram of up to 7 bytes is its own exact 64-bit code (its bytes and its
length), so a batch's n-grams are found in a few numpy passes over its bytes, looked up in a
`TermIndex` and counted as `WordTfidf` counts words. Prediction goes by whole words: each
document's word counts times the training words' n-gram counts, one sparse product, so only the
words not seen in training are cut into n-grams.

The block is fitted only where it pays: when the median training document is at most
`max_median_chars` characters. On longer texts it has no columns and costs nothing (20NG posts:
+0.2 points for 100+ s of features and a tenth of the predict throughput).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from pipeline.clean import sized_batches
from pipeline.config import check_char_ngrams
from pipeline.counting import (
    check_documents,
    count_matrix,
    in_threads,
    select_columns,
    spread_batches,
    stacked,
    strings,
    tfidf,
)
from pipeline.term_index import TermIndex, scrambled, token_codes
from pipeline.tokens import word_bytes

_SPACE = 0x20
_LENGTH_SHIFT = np.uint64(56)
_PAYLOAD = np.uint64((1 << 56) - 1)
# text counted together: each byte starts up to one n-gram of each size, 16 bytes of arrays
# each (code, offset), so (2, 5) makes about 16 MB a batch
_BATCH_BYTES = 1 << 18
# words up to this long are looked up by their 64-bit hash (`term_index.token_codes`) when
# predicting; longer ones are always cut into n-grams: the polynomial hash has constructed
# collisions (Thue-Morse strings of 2 KB), and real words are far shorter
_WORD_BYTES = 64
_MIN_BATCH_BYTES = 1 << 17  # each batch copies the word table once (`_count_by_words`)


def char_codes(data: bytes, ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Every `char_wb` n-gram of the words of `data` (separated by spaces or bytes below them),
    as in scikit-learn: each word padded with a space on both sides, its n-grams for n in
    `ngram_range`, and a padded word shorter than the smallest n taken whole. Returns each
    n-gram's code (its bytes little-endian, its length in the top byte) and the offset in `data`
    of a byte of its word. Bytes, not characters: beyond ASCII an n-gram may cut a character."""
    min_n, max_n = ngram_range
    b = np.full(len(data) + 2, _SPACE, np.uint8)  # padded at both ends
    b[1:-1] = np.frombuffer(data, np.uint8)
    np.maximum(b, _SPACE, out=b)  # line breaks and tabs separate words as spaces do
    space = b == _SPACE
    spaces_before = np.zeros(len(b) + 1, np.int32)
    np.cumsum(space, out=spaces_before[1:])
    wide = b.astype(np.uint64)
    code = wide
    codes, at = [], []
    for n in range(2, max_n + 1):
        code = code[:-1] | (wide[n - 1 :] << np.uint64(8 * (n - 1)))  # bytes p .. p+n-1
        if n < min_n:
            continue
        # an n-gram of a padded word: no space inside it, and not two spaces alone
        inner = spaces_before[n - 1 : len(code) + n - 1] - spaces_before[1 : len(code) + 1]
        valid = inner == 0
        if n == 2:
            valid &= ~(space[:-1] & space[1:])
        p = np.flatnonzero(valid)
        codes.append(code[p] | np.uint64(n) << _LENGTH_SHIFT)
        at.append(p - 1 + space[p])  # its first byte in the word, as an offset in `data`
    if min_n > 3:  # padded words shorter than min_n (words of up to min_n - 3 bytes): whole
        edges = np.flatnonzero(np.diff(space.view(np.int8)))
        starts, ends = edges[::2] + 1, edges[1::2] + 1
        short = np.flatnonzero(ends - starts + 2 < min_n)
        size = ends[short] - starts[short] + 2
        whole = np.zeros(len(short), np.uint64)
        for k in range(min_n - 1):
            inside = k < size
            whole[inside] |= wide[starts[short][inside] - 1 + k] << np.uint64(8 * k)
        codes.append(whole | size.astype(np.uint64) << _LENGTH_SHIFT)
        at.append(starts[short] - 1)
    return np.concatenate(codes), np.concatenate(at)


def _joined(batch: list[bytes]) -> tuple[bytes, np.ndarray]:
    """The batch's documents joined by spaces, and the document of each byte (and of the space
    after it): a gather per n-gram or word, where a search each takes longer."""
    lengths = np.fromiter(map(len, batch), np.int64, len(batch)) + 1
    return b" ".join(batch), np.repeat(np.arange(len(batch), dtype=np.int32), lengths)


def _mixed(codes: np.ndarray) -> np.ndarray:
    """The codes scrambled for `TermIndex`, whose slots are a code's low bits: a raw code's
    are its first byte."""
    return scrambled(codes.copy())


def _distinct_words(batches: list[list[bytes]]) -> bytes:
    """The distinct words of the batches of up to `_WORD_BYTES` bytes, one space between
    them: the words prediction looks up by their codes (`_count_by_words`)."""
    seen: dict[int, bytes] = {}
    for batch in batches:
        data = b" ".join(batch)
        codes, starts, ends = token_codes(data)
        _, first = np.unique(codes, return_index=True)
        first = first[ends[first] - starts[first] <= _WORD_BYTES]
        for i in first.tolist():
            seen.setdefault(int(codes[i]), data[starts[i] : ends[i]])
    return b" ".join(seen.values())


def ngram_names(codes: np.ndarray) -> list[str]:
    """The n-grams' strings (bytes that cut a character are kept as surrogate escapes)."""
    sizes = (codes >> _LENGTH_SHIFT).astype(np.int64)
    raw = (codes & _PAYLOAD).astype("<u8").tobytes()
    return [raw[8 * i : 8 * i + n].decode("utf-8", "surrogateescape") for i, n in enumerate(sizes)]


class CharTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of the words' character n-grams, L2-normalised: the matrix scikit-learn's
    `TfidfVectorizer(analyzer="char_wb")` gives on the words of `tokens.word_bytes` (tested),
    in a fraction of the time; no columns when the median training document is longer than
    `max_median_chars` (None: always fitted)."""

    def __init__(
        self,
        ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        max_df: float = 1.0,
        sublinear_tf: bool = True,
        lowercase: bool = True,
        max_median_chars: int | None = None,
    ) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase
        self.max_median_chars = max_median_chars

    def fit(self, X: Any, y: Any = None) -> CharTfidf:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> sp.csr_matrix:
        check_documents(X)
        check_char_ngrams(self.ngram_range)
        texts = list(strings(X))
        for cached in ("_index", "_words"):  # a refit's vocabulary needs its own
            self.__dict__.pop(cached, None)
        self.codes_, self.idf_, self.words_ = np.zeros(0, np.uint64), np.zeros(0), b""
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
        if self.max_median_chars is not None and np.median(lengths) > self.max_median_chars:
            return sp.csr_matrix((len(texts), 0))
        batches = list(sized_batches(map(word_bytes(self.lowercase), texts), _BATCH_BYTES))
        # candidates: n-grams seen min_df times (a document counted once can only lower that)
        seen = list(in_threads(self._seen, batches))
        codes, which = np.unique(np.concatenate([c for c, _ in seen]), return_inverse=True)
        totals = np.bincount(which, weights=np.concatenate([n for _, n in seen]))
        candidates = codes[totals >= self.min_df]
        index = TermIndex.from_codes(_mixed(candidates), np.arange(len(candidates)))
        assert index is not None  # exact codes, scrambled by a bijection: never equal
        count = partial(self._count, index=index)
        T = stacked(list(in_threads(count, batches)), len(candidates))
        df = np.bincount(T.indices, minlength=T.shape[1])
        kept = np.flatnonzero((df >= self.min_df) & (df <= self.max_df * T.shape[0]))
        # alphabetical (bytewise) as scikit-learn's vocabulary: the bytes big-endian first
        kept = kept[np.argsort((candidates[kept] & _PAYLOAD).byteswap(), kind="stable")]
        if not kept.size:  # no n-gram reaches min_df within max_df: no columns, as when long
            return sp.csr_matrix((len(texts), 0))
        self.codes_ = candidates[kept]
        self.idf_ = np.log((1 + T.shape[0]) / (1 + df[kept])) + 1.0  # smooth IDF
        self.words_ = _distinct_words(batches)
        return self._weigh(select_columns(T, kept))

    def _seen(self, batch: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        return np.unique(char_codes(b" ".join(batch), self.ngram_range)[0], return_counts=True)

    def _count(self, batch: list[bytes], index: TermIndex) -> sp.csr_matrix:
        """A batch's counts of the `index` n-grams."""
        data, doc_of = _joined(batch)
        codes, at = char_codes(data, self.ngram_range)
        return count_matrix(doc_of[at], index.columns(_mixed(codes)), len(batch), index.size)

    def _count_by_words(
        self, batch: list[bytes], index: TermIndex, words: TermIndex, by_word: sp.csr_matrix
    ) -> sp.csr_matrix:
        """`_count` by whole words: a document's n-gram counts are its word counts times each
        word's n-gram counts (`by_word`: the training words'; the batch's other words are cut
        into n-grams and added below them), one sparse product where `_count` finds, looks up
        and sorts every n-gram of every word (subject lines, the block's transform: 41 -> 21 ms
        for 7,532 lines)."""
        data, doc_of = _joined(batch)
        codes, starts, ends = token_codes(data)
        rows = doc_of[starts]
        columns = words.columns(codes)
        columns[ends - starts > _WORD_BYTES] = -1  # cut into n-grams (see `_WORD_BYTES`)
        new = np.flatnonzero(columns < 0)
        if new.size:  # words not seen in training: rows of their own below the known ones
            # one row per distinct word by its code; a long word one row each (`_WORD_BYTES`),
            # after them (a 1-D unique: over (long, key) pairs the block took 27.2 ms, not 24.8,
            # for the 7,532 subject lines)
            long = np.flatnonzero(ends[new] - starts[new] > _WORD_BYTES)
            short = np.setdiff1d(np.arange(new.size), long, assume_unique=True)
            _, first, which = np.unique(codes[new[short]], return_index=True, return_inverse=True)
            columns[new[short]] = words.size + which
            columns[new[long]] = words.size + first.size + np.arange(long.size)
            first = np.concatenate([short[first], long])
            spans = zip(starts[new[first]].tolist(), ends[new[first]].tolist(), strict=True)
            blob = b" ".join(data[s:e] for s, e in spans)
            ngrams, at = char_codes(blob, self.ngram_range)
            word = np.repeat(np.arange(first.size), ends[new[first]] - starts[new[first]] + 1)
            seen = count_matrix(word[at], index.columns(_mixed(ngrams)), first.size, index.size)
            by_word = sp.vstack([by_word, seen], format="csr")
        return count_matrix(rows, columns, len(batch), by_word.shape[0]) @ by_word

    def _weigh(self, T: sp.csr_matrix) -> sp.csr_matrix:
        T = tfidf(T, self.idf_, self.sublinear_tf)
        return normalize(T, copy=False) if T.shape[0] else T

    def transform(self, X: Any) -> sp.csr_matrix:
        check_is_fitted(self, "idf_")
        check_documents(X)
        texts = list(strings(X))
        if not self.idf_.size or not texts:
            return sp.csr_matrix((len(texts), self.idf_.size))
        docs = list(map(word_bytes(self.lowercase), texts))
        index, (words, by_word) = self._term_index(), self._word_table()
        count = partial(self._count_by_words, index=index, words=words, by_word=by_word)
        batches = spread_batches(docs, _MIN_BATCH_BYTES, _BATCH_BYTES)
        return self._weigh(stacked(list(in_threads(count, batches)), self.idf_.size))

    def _term_index(self) -> TermIndex:
        """The n-grams' `TermIndex`, built on first use in each process, never saved."""
        index = self.__dict__.get("_index")
        if index is None:
            index = self._index = TermIndex.from_codes(
                _mixed(self.codes_), np.arange(self.idf_.size)
            )
        return index

    def _word_table(self) -> tuple[TermIndex, sp.csr_matrix]:
        """The training words' `TermIndex` and each one's n-gram counts, built from `words_`
        on first use in each process, never saved. `words_` holds one word per code, so the
        index always builds; an unseen word whose code equals a training word's (by chance,
        about 1e-15 per word for 20k words) would take that word's n-grams."""
        if "_words" not in self.__dict__:
            codes, starts, _ = token_codes(self.words_)
            words = TermIndex.from_codes(codes, np.arange(len(codes)))
            ngrams, at = char_codes(self.words_, self.ngram_range)
            word = np.searchsorted(starts, at, side="right") - 1
            columns = self._term_index().columns(_mixed(ngrams))
            by_word = count_matrix(word, columns, len(codes), self.idf_.size)
            assert words is not None  # `_distinct_words` keeps one word per code
            self._words = (words, by_word)
        return self._words

    def __getstate__(self) -> dict[str, Any]:
        cached = ("_index", "_words")
        return {k: v for k, v in super().__getstate__().items() if k not in cached}

    @property
    def vocabulary_(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(ngram_names(self.codes_))}

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(ngram_names(self.codes_), dtype=object)
