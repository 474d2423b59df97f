"""Vectorised vocabulary lookups for batch prediction.

Looking a term up in a Python dict of half a million terms costs 650-900 ns on this kind of
machine: each lookup chases several pointers (hash table, entry, key string, value object) that
are rarely in cache, one lookup after another. Here each term has a 64-bit code (a word: a hash
of its UTF-8 bytes; an n-gram: its words' codes chained, so a document's n-grams are never built
as strings), the vocabulary's codes go into an open-addressing table of two numpy arrays, and a
whole batch is looked up with a few vectorised gathers.

The words of a whole batch are hashed at once from one buffer of their bytes (`token_codes`),
never as one Python string each. The table is built from the vocabulary in each process that
uses it and is not saved, which keeps model files small.
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1  # a free slot's value: columns are >= 0


class TermIndex:
    """Term → column for a fixed vocabulary, looked up by the terms' 64-bit codes.

    Two known terms never share a slot (`build` refuses a vocabulary whose codes collide). An
    unknown term is taken for a known one only if its 64-bit code equals that term's: with 500k
    terms, a chance of about 3e-14 per lookup.
    """

    def __init__(self, table: np.ndarray, size: int) -> None:
        """`table`: one row (code, column) per slot, a free slot's column -1."""
        self.mask = len(table) - 1
        self.size = size  # terms in the vocabulary
        # each slot as one 16-byte item, so one gather reads a term's code and column together
        # (one cache miss, not two: lookups 175 -> 100 ns in AllSides' 4M-slot table)
        self._slots = table.view(np.complex128).ravel()

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
        # at most a quarter full: an unknown term (a quarter of a text's n-grams) probes on to a
        # free slot, 2.5 slots on average at half full, 1.4 here (20NG lookups 23 -> 15 µs a post)
        size = 1 << max(4, (4 * len(codes) - 1).bit_length())
        table = np.zeros((size, 2), np.int64)
        keys, values = table[:, 0], table[:, 1]
        values[:] = _EMPTY
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
        return cls(table, len(codes))

    def columns(self, codes: np.ndarray) -> np.ndarray:
        """Each code's column, -1 for terms not in the vocabulary."""
        slots = codes & self.mask
        found = self._entries(slots)
        out = np.where(found[:, 0] == codes, found[:, 1], _EMPTY)  # a free slot's column is -1
        # slots taken by another term: probe on
        todo = np.flatnonzero((found[:, 0] != codes) & (found[:, 1] != _EMPTY))
        while todo.size:
            slots[todo] = (slots[todo] + 1) & self.mask
            found = self._entries(slots[todo])
            taken = found[:, 1] != _EMPTY
            hit = (found[:, 0] == codes[todo]) & taken
            out[todo[hit]] = found[hit, 1]
            todo = todo[~hit & taken]
        return out

    def _entries(self, slots: np.ndarray) -> np.ndarray:
        """The (code, column) rows of these slots."""
        return self._slots.take(slots).view(np.int64).reshape(-1, 2)


# odd multiplier that chains word codes into an n-gram's code (see `term_codes`, `ngram_codes`)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = 0xD6E8FEB86659FD93  # odd: the polynomial hash's base, invertible modulo 2**64
_MASK64 = (1 << 64) - 1
_SPACE = 0x20
_TERM_SLICE = 50_000  # terms hashed together: about 1 MB, so the power tables stay small


def _inverse(odd: int) -> int:
    """The inverse of an odd number modulo 2**64 (Newton's iteration doubles the bits)."""
    inverse = odd
    for _ in range(6):
        inverse = inverse * (2 - odd * inverse) & _MASK64
    return inverse


_TABLES: list[tuple[np.ndarray, np.ndarray]] = []  # the power tables, the largest built yet


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """_BASE**k and _BASE**-k modulo 2**64 (uint64 products wrap around) for k < at least `n`;
    one pair is kept, grown to a power of two when a longer buffer comes. Thread-safe: a thread
    returns the pair it read or built, never one another thread has just put in its place."""
    tables = _TABLES[0] if _TABLES else None
    if tables is None or len(tables[0]) < n:
        size = 1 << max(16, (n - 1).bit_length())
        powers = np.full(size, _BASE, np.uint64)
        inverse = np.full(size, _inverse(_BASE), np.uint64)
        powers[0] = inverse[0] = 1
        tables = (np.cumprod(powers), np.cumprod(inverse))
        _TABLES[:] = [tables]
    return tables


def token_codes(data: bytes, min_bytes: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The code of every token of `data` (separated by spaces or any byte below them, such as
    line breaks) of at least `min_bytes` bytes, and the offsets where it starts and ends. A code
    is the polynomial hash of the token's bytes modulo 2**64, scrambled (splitmix64's finaliser):
    one numpy pass over the whole buffer, where hashing each word as a Python string costs
    100-200 ns."""
    buf = np.frombuffer(data, np.uint8)
    in_word = np.zeros(len(buf) + 2, np.int8)
    in_word[1:-1] = buf > _SPACE
    edges = np.flatnonzero(np.diff(in_word))
    starts, ends = edges[::2], edges[1::2]
    if min_bytes > 1:
        long_enough = ends - starts >= min_bytes
        starts, ends = starts[long_enough], ends[long_enough]
    powers, inverse = _power_tables(len(buf) + 1)
    # prefix[i] = sum of buf[j] * base**-j over j < i; a token's hash is
    # (prefix[end] - prefix[start]) * base**(end - 1) = sum of buf[j] * base**(end - 1 - j)
    prefix = np.zeros(len(buf) + 1, np.uint64)
    np.cumsum(buf * inverse[: len(buf)], out=prefix[1:])
    codes = (prefix[ends] - prefix[starts]) * powers[np.maximum(ends, 1) - 1]
    return scrambled(codes), starts, ends


def scrambled(codes: np.ndarray) -> np.ndarray:
    """uint64 codes scrambled in place by splitmix64's finaliser (a bijection: distinct codes
    stay distinct), as int64: `TermIndex` takes a code's low bits for its slot."""
    codes ^= codes >> np.uint64(30)
    codes *= np.uint64(0xBF58476D1CE4E5B9)
    codes ^= codes >> np.uint64(27)
    codes *= np.uint64(0x94D049BB133111EB)
    codes ^= codes >> np.uint64(31)
    return codes.view(np.int64)


def term_codes(terms: list[str]) -> np.ndarray:
    """Each vocabulary term's code: a word's `token_codes` code; for an n-gram (words joined by
    single spaces), its words' codes chained by `_MIX`, as `ngram_codes` chains a document's
    tokens. So a document's n-grams are looked up without ever being joined into strings."""
    if not terms:
        return np.zeros(0, np.int64)
    parts, term_of = [], []
    for first in range(0, len(terms), _TERM_SLICE):  # one term a line, its words spaced
        data = "\n".join(terms[first : first + _TERM_SLICE]).encode("utf-8", "surrogatepass")
        part, at, _ = token_codes(data)
        breaks = np.flatnonzero(np.frombuffer(data, np.uint8) == ord("\n"))
        parts.append(part)
        term_of.append(np.searchsorted(breaks, at) + first)
    lengths = np.bincount(np.concatenate(term_of), minlength=len(terms))  # words per term
    words = np.concatenate(parts).view(np.uint64)
    starts = np.cumsum(lengths) - lengths
    codes = words[starts]
    for k in range(1, int(lengths.max())):
        longer = lengths > k
        codes[longer] = codes[longer] * _MIX + words[starts[longer] + k]
    return codes.view(np.int64)


def ngram_codes(
    words: np.ndarray, doc_of: np.ndarray, ngram_range: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The codes of every n-gram (`ngram_range`) of consecutive tokens within one document, from
    the tokens' codes in order and each token's document; returns the codes, the document of
    each, the position of its first token and its number of words."""
    tokens = words.view(np.uint64)
    min_n, max_n = ngram_range
    codes, docs, first, order = [], [], [], []
    code = tokens
    for n in range(1, max_n + 1):
        if n > 1:  # the n-gram starting at token j: the (n-1)-gram at j, then token j+n-1
            code = code[:-1] * _MIX + tokens[n - 1 :]
        if n >= min_n:
            starts = np.flatnonzero(doc_of[: len(code)] == doc_of[n - 1 :])
            codes.append(code[starts])
            docs.append(doc_of[starts])
            first.append(starts)
            order.append(np.full(len(starts), n, np.int8))
    return (
        np.concatenate(codes).view(np.int64),
        np.concatenate(docs),
        np.concatenate(first),
        np.concatenate(order),
    )
