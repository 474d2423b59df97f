"""Exact and near-duplicate detection, so copies never straddle the train/test split.

Near duplicates are found with MinHash LSH (datasketch) on word shingles; each LSH candidate is
then verified with the exact Jaccard similarity of the shingle sets, so distinct articles that
merely share a topic are never merged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from pipeline.clean import line_key

_LSH_SLACK = 0.15  # LSH retrieves candidates below the threshold; exact Jaccard then decides


@dataclass(slots=True)
class Duplicates:
    """For each document: the index of the first document of its cluster, and how it matched."""

    representative: np.ndarray  # int, == own index for a cluster's first document
    kind: list[str | None]  # "exact" | "near" | None
    similarity: np.ndarray  # Jaccard to the representative (1.0 for exact)

    @property
    def is_duplicate(self) -> np.ndarray:
        return self.representative != np.arange(len(self.representative))


def _shingles(text: str, size: int) -> set[str]:
    words = line_key(text).split()
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def find_duplicates(
    texts: Sequence[str],
    *,
    exact: bool = True,
    near: bool = True,
    threshold: float = 0.7,
    num_perm: int = 128,
    shingle_words: int = 2,
    seed: int = 42,
) -> Duplicates:
    """Cluster documents; earlier documents are representatives (order the train split first)."""
    n = len(texts)
    rep = np.arange(n)
    kind: list[str | None] = [None] * n
    sim = np.ones(n)
    by_hash: dict[str, int] = {}
    lsh = MinHashLSH(threshold=max(0.05, threshold - _LSH_SLACK), num_perm=num_perm)
    shingle_sets: dict[int, set[str]] = {}
    permutations = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    for i, text in enumerate(texts):
        if exact:
            digest = hashlib.sha1(line_key(text).encode()).hexdigest()
            if digest in by_hash:
                rep[i], kind[i] = by_hash[digest], "exact"
                continue
            by_hash[digest] = i
        if not near:
            continue
        shingles = _shingles(text, shingle_words)
        if not shingles:
            continue
        mh = MinHash(num_perm=num_perm, seed=seed, permutations=permutations, scheme="affine32")
        mh.update_batch([s.encode() for s in shingles])
        best, best_sim = -1, 0.0
        for cand in lsh.query(mh):
            other = shingle_sets[cand]
            jaccard = len(shingles & other) / len(shingles | other)
            if jaccard > best_sim:
                best, best_sim = cand, jaccard
        if best >= 0 and best_sim >= threshold:
            rep[i], kind[i], sim[i] = best, "near", best_sim
            continue
        lsh.insert(i, mh)
        shingle_sets[i] = shingles
    return Duplicates(rep, kind, sim)
