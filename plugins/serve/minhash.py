"""Near-duplicate detection with MinHash signatures and LSH banding (numpy only).

Texts become sets of word 3-grams; each set gets ``PERMUTATIONS`` minimum hashes. Rows
whose signatures share a band are candidates; a candidate pair is a duplicate when its
estimated Jaccard similarity reaches the threshold. The first row of each group stays.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

PERMUTATIONS = 128
BANDS = 32
SHINGLE_WORDS = 3
_PRIME = np.uint64(4294967311)  # the first prime above 2**32
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[str]:
    words = _WORD.findall(text.lower())
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words)}
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def _permutations(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**32, PERMUTATIONS, dtype=np.uint64)  # a * hash stays below 2**64
    b = rng.integers(0, int(_PRIME), PERMUTATIONS, dtype=np.uint64)
    return a, b


def signature(text: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "little")
         for s in shingles(text)),
        dtype=np.uint64,
    )
    mixed = (a[:, None] * hashes[None, :] % _PRIME + b[:, None]) % _PRIME
    return mixed.min(axis=1)


def unique_mask(texts: list[str], threshold: float = 0.8) -> list[bool]:
    """True for rows to keep: each row that is not a near duplicate of an earlier one."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold} must be in (0, 1]")
    a, b = _permutations()
    signatures = np.stack([signature(t, a, b) for t in texts]) if texts else np.empty((0, 0))
    keep = [True] * len(texts)
    for first, later in _candidate_pairs(signatures):
        if keep[later] and keep[first] and similarity(signatures[first],
                                                      signatures[later]) >= threshold:
            keep[later] = False
    return keep


def similarity(x: np.ndarray, y: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(x == y))


def _candidate_pairs(signatures: np.ndarray) -> list[tuple[int, int]]:
    rows = PERMUTATIONS // BANDS
    pairs: set[tuple[int, int]] = set()
    for band in range(BANDS):
        buckets: dict[bytes, int] = {}
        for index, sig in enumerate(signatures):
            key = sig[band * rows : (band + 1) * rows].tobytes()
            if key in buckets:
                pairs.add((buckets[key], index))
            else:
                buckets[key] = index
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))
