"""TF-IDF features, fitted on the training split only and cached for the train step."""

from __future__ import annotations

import copy
import json
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any, NamedTuple

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import (
    ENGLISH_STOP_WORDS,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.pipeline import FeatureUnion
from sklearn.utils.validation import check_is_fitted

from pipeline.char_tfidf import CharTfidf
from pipeline.clean import sized_batches, split_pair
from pipeline.config import Config, FeaturesConfig
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
from pipeline.ingest import MANIFEST, load_split
from pipeline.io.writers import atomic_path, write_json
from pipeline.term_index import TermIndex, ngram_codes, token_codes
from pipeline.tokens import word_bytes, word_tokenizer

FEATURES_DIR = "features"
# about this much text (documents' words, `tokens.word_bytes`) is counted together by
# `WordTfidf`: a bounded amount of text and of per-token arrays at a time
_BATCH_BYTES = 1 << 20
# transform: down to this much (`counting.spread_batches`)
_MIN_BATCH_BYTES = 1 << 18
# part of the cache stamp: bump it when a code change alters the features of the same data and
# config, so that cached features from before are rebuilt
FEATURES_CODE = 3


class PrefixStems:
    """Words cut to their first `chars` characters, English stop words left out: the cheapest
    stemmer, and for matching a headline to a body a good one ("attack" meets "attacked")."""

    def __init__(self, chars: int) -> None:
        self.chars = chars

    def __call__(self, text: str) -> list[str]:
        n = self.chars
        return [w[:n] for w in word_tokenizer()(text) if w not in ENGLISH_STOP_WORDS]


class PairSimilarity(TransformerMixin, BaseEstimator):
    """How much a document's first line (a headline) and its rest (a body) share.

    For pair data, whether the two are related at all decides most of the label, and that is a
    property of the pair, not of either text. Features, over words cut to `stem_chars` letters:
    TF-IDF cosine of headline and body, the best cosine of the headline with one body paragraph,
    the share of the headline's words (plain and IDF-weighted) found in the body, and the number
    shared; each also one-hot by quantile bins learned on the training pairs, so a linear model
    can place sharp thresholds on them. Stems rather than whole words: FNC-1 related/unrelated
    accuracy 0.955 -> 0.966, score 79.7 -> 81.4 (README, Bench).
    """

    def __init__(self, n_bins: int = 10, stem_chars: int = 5) -> None:
        self.n_bins = n_bins
        self.stem_chars = stem_chars

    def fit(self, X: list[str], y: object = None) -> PairSimilarity:
        heads, bodies = zip(*map(split_pair, X), strict=True) if X else ((), ())
        self.vectorizer_ = TfidfVectorizer(
            sublinear_tf=True, analyzer=PrefixStems(self.stem_chars)
        ).fit(sorted({*heads, *bodies}))
        raw = self._raw(list(heads), list(bodies))
        quantiles = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        self.edges_ = [np.unique(np.quantile(raw[:, j], quantiles)) for j in range(raw.shape[1])]
        return self

    def _raw(self, heads: list[str], bodies: list[str]) -> np.ndarray:
        # pair data repeats its texts (one body against many headlines): vectorise each once
        unique_heads, head_index = _unique(heads)
        unique_bodies, body_index = _unique(bodies)
        H = self.vectorizer_.transform(unique_heads)[head_index]
        B = self.vectorizer_.transform(unique_bodies)[body_index]
        cosine = _rowdot(H, B)
        h_words, b_words = (H > 0).astype(float), (B > 0).astype(float)
        shared = _rowdot(h_words, b_words)
        overlap = shared / np.maximum(np.asarray(h_words.sum(axis=1)).ravel(), 1)
        idf = sp.diags(self.vectorizer_.idf_)
        h_idf = h_words @ idf
        idf_overlap = _rowdot(h_idf, b_words) / np.maximum(
            np.asarray(h_idf.sum(axis=1)).ravel(), 1e-9
        )
        return np.column_stack(
            [
                cosine,
                self._best_paragraph(H, unique_bodies, body_index),
                overlap,
                idf_overlap,
                np.log1p(shared),
            ]
        )

    def _best_paragraph(self, H: sp.csr_matrix, bodies: list[str], index: np.ndarray) -> np.ndarray:
        """Per pair, the highest cosine of the headline with one paragraph (line) of the body."""
        paragraphs, owner = [], []
        for b, body in enumerate(bodies):
            lines = [line for line in body.split("\n") if line.strip()] or [""]
            paragraphs += lines
            owner += [b] * len(lines)
        P = self.vectorizer_.transform(paragraphs)
        starts = np.searchsorted(np.asarray(owner), np.arange(len(bodies) + 1))
        best = np.zeros(H.shape[0])
        rows_of = np.argsort(index, kind="stable")
        bounds = np.searchsorted(index[rows_of], np.arange(len(bodies) + 1))
        for b in range(len(bodies)):
            rows = rows_of[bounds[b] : bounds[b + 1]]
            if len(rows):
                sims = H[rows] @ P[starts[b] : starts[b + 1]].T
                best[rows] = sims.max(axis=1).toarray().ravel()
        return best

    def transform(self, X: list[str]) -> sp.csr_matrix:
        check_is_fitted(self, "edges_")
        heads, bodies = zip(*map(split_pair, X), strict=True) if X else ((), ())
        raw = self._raw(list(heads), list(bodies))
        blocks = [sp.csr_matrix(raw)]
        for j, edges in enumerate(self.edges_):
            which = np.digitize(raw[:, j], edges)
            onehot = sp.csr_matrix(
                (np.ones(len(which)), (np.arange(len(which)), which)),
                shape=(len(which), len(edges) + 1),
            )
            blocks.append(onehot)
        return sp.hstack(blocks, format="csr", dtype=np.float64)


def _unique(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-seen order, and each input's position among them."""
    first: dict[str, int] = {}
    index = np.fromiter((first.setdefault(t, len(first)) for t in texts), int, len(texts))
    return list(first), index


def _rowdot(A: sp.csr_matrix, B: sp.csr_matrix) -> np.ndarray:
    return np.asarray(A.multiply(B).sum(axis=1)).ravel()


def _growing_vocabulary() -> defaultdict[str, int]:
    vocabulary: defaultdict[str, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__  # a new term takes the next column
    return vocabulary


def count_terms(
    docs: Iterable[str],
    analyze: Callable[[str], Sequence[list[str]]],
    vocabularies: Sequence[dict[str, int]],
) -> list[sp.csr_matrix]:
    """Each document's term counts in each vocabulary (`analyze` gives one term list per
    vocabulary): a growing vocabulary (`_growing_vocabulary`) takes in new terms, a plain one
    ignores them. What CountVectorizer does, faster: a Counter counts a document's terms in C and
    each distinct term is looked up once, where scikit-learn looks up every occurrence in a
    Python loop and pays a KeyError for each unknown one. `WordTfidf` counts by codes instead
    and comes here only if two of its terms' codes collide."""
    columns = [array("q") for _ in vocabularies]
    counts = [array("q") for _ in vocabularies]
    indptr = [array("q", [0]) for _ in vocabularies]
    for doc in strings(docs):
        for k, terms in enumerate(analyze(doc)):
            counted = Counter(terms)
            vocabulary = vocabularies[k]
            if isinstance(vocabulary, defaultdict):
                columns[k].extend(map(vocabulary.__getitem__, counted))
            else:
                columns[k].extend(map(vocabulary.get, counted, repeat(-1)))
            counts[k].extend(counted.values())
            indptr[k].append(len(columns[k]))
    return [
        _csr(*entries, len(vocabulary))
        for *entries, vocabulary in zip(columns, counts, indptr, vocabularies, strict=True)
    ]


def _csr(columns: array, counts: array, indptr: array, width: int) -> sp.csr_matrix:
    """A CSR count matrix from each row's (column, count) entries, unknown terms (-1) left out."""
    cols = np.frombuffer(columns, dtype=np.int64)
    values = np.frombuffer(counts, dtype=np.int64).astype(np.float64)
    starts = np.frombuffer(indptr, dtype=np.int64)
    known = cols >= 0
    if not known.all():
        starts = np.concatenate([[0], np.cumsum(known)])[starts]
        cols, values = cols[known], values[known]
    X = sp.csr_matrix((values, cols, starts), shape=(len(starts) - 1, width))
    X.sort_indices()
    return X


class _Terms(NamedTuple):
    """Every n-gram occurrence in a batch of documents: its code, document, first token and
    number of words; and each token's byte offsets in `data`, the batch's words."""

    data: bytes
    codes: np.ndarray
    rows: np.ndarray
    first: np.ndarray
    order: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def _batch_terms(batch: list[bytes], ngram_range: tuple[int, int]) -> _Terms:
    """The n-grams of a batch, its words hashed at once (`term_index.token_codes`) and its
    n-grams chained from them (`ngram_codes`): never built as strings nor counted one by one."""
    lengths = np.fromiter(map(len, batch), np.int64, len(batch)) + 1
    offsets = np.cumsum(lengths) - lengths
    data = b" ".join(batch)
    words, starts, ends = token_codes(data, min_bytes=2)  # 2+ characters, as scikit-learn
    doc_of = np.searchsorted(offsets, starts, side="right") - 1
    return _Terms(data, *ngram_codes(words, doc_of, ngram_range), starts, ends)


class WordTfidf(TransformerMixin, BaseEstimator):
    """Word n-gram TF-IDF where single words and longer n-grams are two blocks, each
    L2-normalised on its own, the n-grams weighted by `ngram_weight`, and each block with its own
    `min_df`: rare words (names) are signal, rare bigrams noise, and on small corpora noisy
    bigrams would otherwise drown the words. One vocabulary (`vocabulary_`), like TfidfVectorizer.

    Without the lead block (below), the matrices are bit for bit those of TfidfVectorizer
    (tested). Terms are counted by 64-bit
    codes (`term_index`), a batch of documents at a time, and only the terms that can pass
    `min_df` are ever given a column or a string: fitting on 20 Newsgroups takes 6.6 s where
    TfidfVectorizer takes 32 s, and the millions of bigrams seen once are never held as strings.
    `max_df` is a fraction of the documents (scikit-learn also takes a count).

    With `lead_words`, a third block follows the vocabulary's columns: the single words of each
    document's first `lead_words` words again, with their own IDF (from how many documents hold
    each in their lead), L2-normalised on its own and weighted by `lead_weight`. News says what a
    story is about first (headline and lead paragraph; a post's subject and sender). The lead's
    words are counted from the same word codes as the rest, so the block costs little.
    """

    def __init__(
        self,
        ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 2,
        unigram_min_df: int = 1,
        ngram_weight: float = 0.5,
        max_df: float = 1.0,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        lowercase: bool = True,
        lead_words: int | None = 0,
        lead_weight: float = 0.5,
    ) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.unigram_min_df = unigram_min_df
        self.ngram_weight = ngram_weight
        self.max_df = max_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase
        self.lead_words = lead_words
        self.lead_weight = lead_weight

    def fit(self, X: Any, y: Any = None) -> WordTfidf:
        self.fit_transform(X)
        return self

    def _vectorizer(self, **params: Any) -> TfidfVectorizer:
        return TfidfVectorizer(
            ngram_range=tuple(self.ngram_range),
            sublinear_tf=self.sublinear_tf,
            lowercase=self.lowercase,
            strip_accents="unicode",
            norm=None,  # normalised per block in `_blocks`
            dtype=np.float64,  # liblinear copies any other dtype once per fitted label
            **params,
        )

    def _check_ngram_range(self) -> None:
        min_n, max_n = self.ngram_range
        if not 1 <= min_n <= max_n:
            raise ValueError(f"invalid ngram_range {self.ngram_range}: need 1 <= min <= max")

    def _tokenizer(self) -> Callable[[str], list[str]]:
        """A document's words: scikit-learn's preprocessing and tokenizer, done faster by
        `tokens.word_tokenizer`."""
        self._check_ngram_range()
        return word_tokenizer(self.lowercase)

    def _analyzer(self) -> Callable[[str], tuple[list[str], list[str]]]:
        """A document's words and its n-grams of 2+ words, the n-grams joined by `map` and `zip`
        rather than one by one."""
        tokenize = self._tokenizer()
        min_n, max_n = self.ngram_range

        def analyze(doc: str) -> tuple[list[str], list[str]]:
            tokens = tokenize(doc)
            ngrams: list[str] = []
            for n in range(max(min_n, 2), max_n + 1):
                ngrams += map(" ".join, zip(*(tokens[i:] for i in range(n)), strict=False))
            return (tokens if min_n == 1 else []), ngrams

        return analyze

    def fit_transform(self, X: Any, y: Any = None) -> sp.csr_matrix:
        check_documents(X)
        self.__dict__.pop("_index", None)  # a refit's vocabulary needs its own index
        self._check_ngram_range()
        spaced = word_bytes(self.lowercase)
        batches = list(sized_batches(map(spaced, strings(X)), _BATCH_BYTES))
        codes, is_ngram = self._candidates(batches)
        index = TermIndex.from_codes(codes, np.arange(len(codes)))
        if index is None:  # two terms share a 64-bit code: count by strings (never seen)
            return self._fit_by_strings([doc.decode() for batch in batches for doc in batch])
        T, L, found_in, found_at = self._count_candidates(batches, index)
        df = np.bincount(T.indices, minlength=T.shape[1])  # a document counts each term once
        low = min(self.min_df, self.unigram_min_df)
        # only the terms that can be kept are named: a string each, where all have a code
        named = np.flatnonzero((df >= low) & (df <= self.max_df * T.shape[0]))
        terms = self._names(batches, found_in[named], found_at[named])
        kept = self._kept_terms(T, df, terms, is_ngram[named], named)
        self._index = TermIndex.from_codes(codes[named][kept], np.arange(len(kept)))
        columns = named[kept]
        lead = None if L is None else select_columns(L, columns)
        return self._finish(select_columns(T, columns), terms[kept], is_ngram[columns], lead)

    def _candidates(self, batches: list[list[bytes]]) -> tuple[np.ndarray, np.ndarray]:
        """Codes of the terms seen often enough to reach their block's `min_df` (each document
        counted once can only lower a term's count), and whether each is an n-gram. Most terms
        seen are bigrams seen once: they are never named nor given a column."""

        def words_and_ngrams(batch: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
            terms = _batch_terms(batch, self.ngram_range)
            return terms.codes[terms.order == 1], terms.codes[terms.order > 1]

        seen: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for words, ngrams in in_threads(words_and_ngrams, batches):
            seen[0].append(words)
            seen[1].append(ngrams)
        if not any(part.size for block in seen for part in block):
            raise ValueError("empty vocabulary: the documents hold no words")
        low = min(self.min_df, self.unigram_min_df)
        candidates = []
        for block, block_min in zip(seen, (self.unigram_min_df, self.min_df), strict=True):
            codes, counts = np.unique(np.concatenate(block), return_counts=True)
            # max_features ranks every term above the lowest min_df, its block's or not
            candidates.append(codes[counts >= (block_min if self.max_features is None else low)])
        is_ngram = np.repeat([False, True], [len(c) for c in candidates])
        return np.concatenate(candidates), is_ngram

    def _count_candidates(
        self, batches: list[list[bytes]], index: TermIndex
    ) -> tuple[sp.csr_matrix, sp.csr_matrix | None, np.ndarray, np.ndarray]:
        """Per document, the counts of the candidate terms, and of those in its lead (None
        without a lead block); and for each candidate, one batch and position (`_batch_terms`
        order) where it occurs, to name it from."""
        found_in = np.full(index.size, -1, np.int64)
        found_at = np.zeros(index.size, np.int64)
        chunks, leads = [], []
        count = partial(self._count_batch, index=index)
        for b, (chunk, lead, columns) in enumerate(in_threads(count, batches)):
            chunks.append(chunk)
            leads.append(lead)
            first = columns >= 0
            first[first] = found_in[columns[first]] < 0
            found_in[columns[first]] = b  # repeats in `columns`: any one of them is an occurrence
            found_at[columns[first]] = np.flatnonzero(first)
        T, L = stacked(chunks, index.size), stacked(leads, index.size)
        chunks.clear()
        return T, L, found_in, found_at

    def _count_batch(
        self, batch: list[bytes], index: TermIndex
    ) -> tuple[sp.csr_matrix, sp.csr_matrix | None, np.ndarray]:
        """A batch's counts of the `index` terms, those of each document's lead (None without a
        lead block), and each occurrence's column (-1: unknown)."""
        terms = _batch_terms(batch, self.ngram_range)
        columns = index.columns(terms.codes)
        T = count_matrix(terms.rows, columns, len(batch), index.size)
        lead = None
        if self.lead_words:
            words = np.flatnonzero(terms.order == 1)  # each token, in order: `ngram_codes`
            rows = terms.rows[words]
            position = words - np.searchsorted(rows, np.arange(len(batch)))[rows]
            first = words[position < self.lead_words]
            lead = count_matrix(terms.rows[first], columns[first], len(batch), index.size)
        return T, lead, columns

    def _names(
        self, batches: list[list[bytes]], found_in: np.ndarray, found_at: np.ndarray
    ) -> np.ndarray:
        """Each term's string, read from the words of one of its occurrences."""
        names = np.empty(len(found_in), dtype=object)
        for b in np.unique(found_in):
            terms = _batch_terms(batches[b], self.ngram_range)
            which = np.flatnonzero(found_in == b)
            token, size = terms.first[found_at[which]], terms.order[found_at[which]]
            for n in np.unique(size):
                of_n = size == n
                words = [  # the k-th word of each n-gram
                    [
                        terms.data[s:e].decode()
                        for s, e in zip(terms.starts[j], terms.ends[j], strict=True)
                    ]
                    for j in (token[of_n] + k for k in range(n))
                ]
                names[which[of_n]] = [" ".join(parts) for parts in zip(*words, strict=True)]
        return names

    def _fit_by_strings(self, docs: list[str]) -> sp.csr_matrix:
        """The fit counting terms by their strings, for a vocabulary whose codes collide."""
        vocabularies = (_growing_vocabulary(), _growing_vocabulary())
        analyze = self._analyzer()

        def with_lead(doc: str) -> tuple[list[str], list[str], list[str]]:
            words, ngrams = analyze(doc)
            return words, ngrams, words[: self.lead_words or 0]

        words, ngrams, lead = count_terms(docs, with_lead, (*vocabularies, vocabularies[0]))
        terms = np.array([*vocabularies[0], *vocabularies[1]], dtype=object)
        is_ngram = np.arange(len(terms)) >= words.shape[1]
        T = sp.hstack([words, ngrams], format="csr")
        L = sp.hstack([lead, sp.csr_matrix(ngrams.shape)], format="csr")
        df = np.bincount(T.indices, minlength=T.shape[1])
        kept = self._kept_terms(T, df, terms, is_ngram, np.arange(len(terms)))
        lead = select_columns(L, kept) if self.lead_words else None
        return self._finish(select_columns(T, kept), terms[kept], is_ngram[kept], lead)

    def _finish(
        self, T: sp.csr_matrix, terms: np.ndarray, is_ngram: np.ndarray, L: sp.csr_matrix | None
    ) -> sp.csr_matrix:
        """Fix the vocabulary (kept terms only, in order) and IDF, and the lead block's words
        (those of the vocabulary seen in some lead, within `max_df`) and IDF; the counts as
        TF-IDF blocks."""
        idf = TfidfTransformer(norm=None, sublinear_tf=self.sublinear_tf).fit(T).idf_
        self.vectorizer_ = self._vectorizer(vocabulary=terms.tolist())
        self.vectorizer_.idf_ = idf
        self.is_ngram_ = is_ngram
        self.lead_columns_ = None
        if L is not None:
            df = np.bincount(L.indices, minlength=L.shape[1])
            in_lead = ~is_ngram & (df > 0) & (df <= self.max_df * L.shape[0])
            self.lead_columns_ = np.flatnonzero(in_lead)
            L = select_columns(L, self.lead_columns_)
            # scikit-learn's smooth IDF, from the leads' document frequencies (none: no column)
            self.lead_idf_ = np.log((1 + L.shape[0]) / (1 + df[self.lead_columns_])) + 1.0
        return self._output(T, L)

    def _output(self, T: sp.csr_matrix, L: sp.csr_matrix | None) -> sp.csr_matrix:
        """TF-IDF blocks from the counts, the lead's (already in its columns) after them: the
        lead is a third block, weighed and normalised as the other two."""
        if L is None:
            return self._blocks(tfidf(T, self.vectorizer_.idf_, self.sublinear_tf))
        X = sp.hstack([T, L], format="csr")
        idf = np.concatenate([self.vectorizer_.idf_, self.lead_idf_])
        block = np.concatenate([self.is_ngram_.view(np.int8), np.full(L.shape[1], 2, np.int8)])
        return self._blocks(tfidf(X, idf, self.sublinear_tf), block)

    def _kept_terms(
        self,
        T: sp.csr_matrix,
        df: np.ndarray,
        terms: np.ndarray,
        is_ngram: np.ndarray,
        columns: np.ndarray,
    ) -> np.ndarray:
        """Of `columns` (those of T named by `terms`; `df`: each column's document frequency),
        those kept, in alphabetical order of their terms: TfidfVectorizer's `max_df`,
        `max_features` and (lowest) `min_df` rules, then each block's own `min_df`."""
        n_docs = T.shape[0]
        df = df[columns]
        low = min(self.min_df, self.unigram_min_df)
        if self.max_df * n_docs < low:
            raise ValueError("max_df corresponds to < documents than min_df")
        keep = (df <= self.max_df * n_docs) & (df >= low)
        if self.max_features is not None and keep.sum() > self.max_features:
            survivors = _alphabetical(np.flatnonzero(keep), terms)
            totals = np.bincount(T.indices, weights=T.data, minlength=T.shape[1])[columns]
            keep[:] = False  # the most frequent, ties broken as scikit-learn breaks them
            keep[survivors[(-totals[survivors]).argsort()[: self.max_features]]] = True
        keep &= np.where(is_ngram, df >= self.min_df, df >= self.unigram_min_df)
        kept = np.flatnonzero(keep)
        if not kept.size:
            raise ValueError(
                "After pruning, no terms remain. Try a lower min_df or a higher max_df."
            )
        return _alphabetical(kept, terms)

    def transform(self, X: Any) -> sp.csr_matrix:
        check_is_fitted(self, "vectorizer_")
        check_documents(X)
        index = self._term_index()
        if isinstance(index, TermIndex):
            docs = list(map(word_bytes(self.lowercase), strings(X)))
            batches = spread_batches(docs, _MIN_BATCH_BYTES, _BATCH_BYTES)
            count = partial(self._count_batch, index=index)
            counted = list(in_threads(count, batches))
            T = stacked([chunk for chunk, _, _ in counted], index.size)
            L = stacked([lead for _, lead, _ in counted], index.size)
        else:
            analyze = self._analyzer()

            def all_terms(doc: str) -> list[list[str]]:
                words, ngrams = analyze(doc)
                return [words + ngrams, words[: self.lead_words or 0]]

            T, L = count_terms(X, all_terms, [index, index])
        lead = None if self.lead_columns_ is None else select_columns(L, self.lead_columns_)
        return self._output(T, lead)

    def _term_index(self) -> TermIndex | dict[str, int]:
        """The vocabulary's `TermIndex`, built on first use in each process (not pickled, which
        keeps model files small: see `__getstate__`); the dict if codes collide."""
        index = self.__dict__.get("_index")
        if index is None:
            index = TermIndex.build(self.vocabulary_) or self.vocabulary_
            self._index = index
        return index

    def __getstate__(self) -> dict[str, Any]:
        # a copy: object.__getstate__ hands out the live __dict__
        state = {k: v for k, v in super().__getstate__().items() if k != "_index"}
        vectorizer = state.get("vectorizer_")
        if vectorizer is not None and isinstance(vectorizer.vocabulary, list):
            # the vocabulary as one string: joblib pickles a list or dict of terms one object at
            # a time in Python (2.5 s for 20NG's 300k terms, twice over: list and dict)
            vectorizer = copy.copy(vectorizer)
            state["terms_"] = "\n".join(vectorizer.vocabulary)  # terms are words and spaces
            vectorizer.vocabulary = None
            vectorizer.__dict__.pop("vocabulary_", None)
            state["vectorizer_"] = vectorizer
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        terms = state.pop("terms_", None)
        state = {"lead_words": 0, "lead_weight": 0.5, **state}  # saved before the lead block
        if "vectorizer_" in state:
            state.setdefault("lead_columns_", None)
        super().__setstate__(state)
        if terms is not None:
            vocabulary = terms.split("\n") if terms else []
            self.vectorizer_.vocabulary = vocabulary
            self.vectorizer_.vocabulary_ = {term: i for i, term in enumerate(vocabulary)}
            self.vectorizer_.fixed_vocabulary_ = True

    def _blocks(self, T: sp.csr_matrix, block: np.ndarray | None = None) -> sp.csr_matrix:
        """L2-normalise each row's words, n-grams and lead apart (`block`: each column's, 0, 1
        or 2; by default the vocabulary's words and n-grams); weight the n-grams and the lead."""
        if block is None:
            block = self.is_ngram_.view(np.int8)
        # few temporaries the size of T.data at once (on AllSides each is 250 MB), none 2-D
        cell = np.repeat(np.arange(0, 3 * T.shape[0], 3), np.diff(T.indptr))
        kind = block[T.indices]
        cell += kind  # per row, 3 * row + its block
        norms = np.sqrt(np.bincount(cell, weights=np.square(T.data), minlength=3 * T.shape[0]))
        norms[norms == 0] = 1.0
        T.data /= norms[cell]
        del cell
        # a gather from the weights, not T.data[ngram] *= weight: a masked update copies the
        # n-gram values out and back (20 -> 6 ms for the 20NG test set, the same products)
        T.data *= np.array([1.0, self.ngram_weight, self.lead_weight])[kind]
        return T

    @property
    def vocabulary_(self) -> dict[str, int]:
        return self.vectorizer_.vocabulary_

    def build_analyzer(self) -> Any:
        return self.vectorizer_.build_analyzer()


def _alphabetical(columns: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """The columns ordered by their terms, as scikit-learn orders a vocabulary."""
    names = terms[columns].tolist()
    return columns[sorted(range(len(names)), key=names.__getitem__)]


def build_vectorizer(cfg: FeaturesConfig) -> TransformerMixin:
    """Word (and n-gram) TF-IDF blocks and the lead block, plus the words' character n-grams
    on short texts (`CharTfidf`: shared stems, lost letters), plus headline-body similarity
    features when the data is declared as pairs."""
    word = WordTfidf(
        ngram_range=tuple(cfg.word_ngrams),
        min_df=cfg.min_df,
        unigram_min_df=cfg.unigram_min_df,
        ngram_weight=cfg.ngram_weight,
        max_df=cfg.max_df,
        max_features=cfg.max_features,
        sublinear_tf=cfg.sublinear_tf,
        lowercase=cfg.lowercase,
        lead_words=cfg.lead_words if cfg.lead_weight else 0,
        lead_weight=cfg.lead_weight,
    )
    parts: list[tuple[str, TransformerMixin]] = [("word", word)]
    if cfg.char_ngrams is not None:
        char = CharTfidf(
            ngram_range=tuple(cfg.char_ngrams),
            min_df=cfg.min_df,
            max_df=cfg.max_df,
            sublinear_tf=cfg.sublinear_tf,
            lowercase=cfg.lowercase,
            max_median_chars=cfg.char_max_median_chars,
        )
        parts.append(("char", char))
    if cfg.pair_fields:
        parts.append(("pair", PairSimilarity()))
    return word if len(parts) == 1 else FeatureUnion(parts)


def word_tfidf(vectorizer: Any) -> WordTfidf | None:
    """The `WordTfidf` of a vectorizer `build_vectorizer` made (alone, or "word" in a union)."""
    parts = dict(getattr(vectorizer, "transformer_list", [("word", vectorizer)]))
    word = parts.get("word")
    return word if isinstance(word, WordTfidf) else None


def drop_pruned_terms(vectorizer: TransformerMixin) -> None:
    """Forget the terms min_df/max_df pruned (`stop_words_`): sklearn keeps them for
    introspection only, and with bigrams they outweigh the model (size, save and load time)."""
    parts = getattr(vectorizer, "transformer_list", [("", vectorizer)])
    for _, part in parts:
        if hasattr(part, "stop_words_"):
            part.stop_words_ = None


@dataclass
class Features:
    """The fitted vectorizer and the train/test matrices it produced."""

    vectorizer: TransformerMixin
    X_train: sp.csr_matrix
    X_test: sp.csr_matrix
    stamp: str
    fit_seconds: float | None = None  # fitting the vectorizer on train (None: read from cache)

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def features_dir(config: Config) -> Path:
    return Path(config.paths.processed) / FEATURES_DIR


def _stamp(config: Config) -> str:
    manifest = json.loads((Path(config.paths.processed) / MANIFEST).read_text())
    return f"{manifest['hash'][:16]}-{config.section_hash('features')}-{FEATURES_CODE}"


def build_features(config: Config) -> Features:
    """Fit TF-IDF on the processed train split, transform both splits, and cache the result."""
    train, test = load_split(config, "train"), load_split(config, "test")
    vectorizer = build_vectorizer(config.features)
    start = time.perf_counter()
    X_train = sp.csr_matrix(vectorizer.fit_transform(train["text"].tolist()))
    drop_pruned_terms(vectorizer)
    fit_seconds = time.perf_counter() - start
    X_test = sp.csr_matrix(vectorizer.transform(test["text"].tolist()))
    out = features_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stamp.json").unlink(missing_ok=True)
    for name, X in (("X_train.npz", X_train), ("X_test.npz", X_test)):
        with atomic_path(out / name) as tmp:
            # uncompressed: zlib took 2.2 s of 20NG's feature step, for a cache on local disk
            sp.save_npz(tmp.with_suffix(".npz"), X, compressed=False)
            tmp.with_suffix(".npz").replace(tmp)
    with atomic_path(out / "vectorizer.joblib") as tmp:
        joblib.dump(vectorizer, tmp)
    stamp = _stamp(config)
    write_json(out / "stamp.json", {"stamp": stamp, "n_features": X_train.shape[1]})
    return Features(vectorizer, X_train, X_test, stamp, fit_seconds)


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
