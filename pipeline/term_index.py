"""Vectorised vocabulary lookups for batch prediction.

Looking a term up in a Python dict of half a million terms costs 650-900 ns on this kind of
machine: each lookup chases several pointers (hash table, entry, key string, value object) that
are rarely in cache, one lookup after another. Here each term has a 64-bit code (a word: its
string hash; an n-gram: its words' hashes chained, so a document's n-grams are never built as
strings), the vocabulary's codes go into an open-addressing table of two numpy arrays, and a
whole batch is looked up with a few vectorised gathers.

Python salts string hashes per process, so the table is built in each process from the
vocabulary and never saved.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

_EMPTY = -1  # a free slot's value: columns are >= 0


class TermIndex:
    """Term → column for a fixed vocabulary, looked up by the terms' 64-bit codes.

    Two known terms never share a slot (`build` refuses a vocabulary whose codes collide). An
    unknown term is taken for a known one only if its 64-bit code equals that term's: with 500k
    terms, a chance of about 3e-14 per lookup.
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray, size: int) -> None:
        self.keys = keys
        self.values = values
        self.mask = len(keys) - 1
        self.size = size  # terms in the vocabulary

    @classmethod
    def build(cls, vocabulary: dict[str, int]) -> TermIndex | None:
        """The index of `vocabulary` by `term_codes`, or None if two codes are equal (then use
        the dict)."""
        codes = term_codes(list(vocabulary))
        columns = np.fromiter(vocabulary.values(), np.int64, len(vocabulary))
        return cls.from_codes(codes, columns)

    @classmethod
    def from_codes(cls, codes: np.ndarray, columns: np.ndarray) -> TermIndex | None:
        """The index of terms given by their codes (`term_codes`); None if two are equal."""
        ordered = np.sort(codes)
        if (ordered[1:] == ordered[:-1]).any():
            return None
        size = 1 << max(4, (2 * len(codes) - 1).bit_length())  # at most half full
        keys = np.zeros(size, np.int64)
        values = np.full(size, _EMPTY, np.int64)
        mask = size - 1
        slots = codes & mask
        pending = np.arange(len(codes))
        claim = np.full(size, -1, np.int64)
        while pending.size:  # linear probing, one vectorised round per probe step
            at = slots[pending]
            free = values[at] == _EMPTY
            claim[at[free]] = pending[free]  # of terms wanting one free slot, one gets it
            won = free & (claim[at] == pending)
            keys[at[won]] = codes[pending[won]]
            values[at[won]] = columns[pending[won]]
            pending, at = pending[~won], at[~won]
            slots[pending] = (at + 1) & mask  # every slot they wanted is taken now
        return cls(keys, values, len(codes))

    def columns(self, codes: np.ndarray) -> np.ndarray:
        """Each code's column, -1 for terms not in the vocabulary."""
        out = np.full(codes.shape, _EMPTY, np.int64)
        slots = codes & self.mask
        todo = np.arange(codes.size)
        while todo.size:
            at = slots[todo]
            found = self.values[at]
            hit = (self.keys[at] == codes[todo]) & (found != _EMPTY)
            out[todo[hit]] = found[hit]
            todo = todo[~hit & (found != _EMPTY)]  # occupied by another term: probe on
            slots[todo] = (slots[todo] + 1) & self.mask
        return out


# odd multiplier that chains word hashes into an n-gram's code (see `term_codes`, `ngram_codes`)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def term_codes(terms: list[str]) -> np.ndarray:
    """Each vocabulary term's code: a word's string hash; for an n-gram (words joined by single
    spaces), its words' hashes chained by `_MIX`, as `ngram_codes` chains a document's tokens.
    So a document's n-grams are looked up without ever being joined into strings. (One flat list
    of words, not a list per term: millions of small lists kept the garbage collector busy.)"""
    if not terms:
        return np.zeros(0, np.int64)
    words = np.fromiter(map(hash, " ".join(terms).split(" ")), np.int64).view(np.uint64)
    lengths = np.fromiter(map(str.count, terms, repeat(" ")), np.int64, len(terms)) + 1
    starts = np.cumsum(lengths) - lengths
    codes = words[starts]
    for k in range(1, int(lengths.max())):
        longer = lengths > k
        codes[longer] = codes[longer] * _MIX + words[starts[longer] + k]
    return codes.view(np.int64)


def ngram_codes(
    hashes: np.ndarray, doc_of: np.ndarray, ngram_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The codes of every n-gram (`ngram_range`) of consecutive tokens within one document, from
    the tokens' hashes in order and each token's document; returns (codes, document of each)."""
    tokens = hashes.view(np.uint64)
    min_n, max_n = ngram_range
    codes, docs = [], []
    code = tokens
    for n in range(1, max_n + 1):
        if n > 1:  # the n-gram starting at token j: the (n-1)-gram at j, then token j+n-1
            code = code[:-1] * _MIX + tokens[n - 1 :]
        if n >= min_n:
            same_doc = doc_of[: len(code)] == doc_of[n - 1 :]
            codes.append(code[same_doc])
            docs.append(doc_of[: len(code)][same_doc])
    return np.concatenate(codes).view(np.int64), np.concatenate(docs)
