"""The pure rules of ICAI: clustering, vote arithmetic, filtering and ranking.

No model calls here: every function takes plain values, so each rule is unit-tested alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

VOTE_ANSWERS = ("A", "B", "both", "none")


# -- clustering ------------------------------------------------------------------------------


def kmeans(vectors: Sequence[Sequence[float]], k: int, seed: int,
           iterations: int = 100) -> tuple[list[int], np.ndarray]:
    """Seeded k-means (k-means++ start, Lloyd steps): each vector's cluster and the centroids.

    The same vectors, k and seed always give the same clusters.
    """
    points = np.asarray(vectors, dtype=np.float64)
    k = max(1, min(k, len(points)))
    centroids = _kmeans_plus_plus(points, k, np.random.default_rng(seed))
    labels = _nearest(points, centroids)
    for _ in range(iterations):
        centroids = _means(points, labels, centroids)
        updated = _nearest(points, centroids)
        if np.array_equal(updated, labels):
            break
        labels = updated
    return labels.tolist(), centroids


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [int(rng.integers(len(points)))]
    for _ in range(1, k):
        distances = _squared_distances(points, points[chosen]).min(axis=1)
        total = distances.sum()
        if total <= 0:  # fewer distinct points than k: take the next unused ones
            chosen.append(next(i for i in range(len(points)) if i not in chosen))
            continue
        chosen.append(int(rng.choice(len(points), p=distances / total)))
    return points[chosen].copy()


def _squared_distances(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)


def _nearest(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return _squared_distances(points, centroids).argmin(axis=1)


def _means(points: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    updated = centroids.copy()
    for cluster in range(len(centroids)):
        members = points[labels == cluster]
        if len(members):  # an emptied cluster keeps its old centre
            updated[cluster] = members.mean(axis=0)
    return updated


def distances_to_centroid(vectors: Sequence[Sequence[float]], labels: Sequence[int],
                          centroids: np.ndarray) -> list[float]:
    points = np.asarray(vectors, dtype=np.float64)
    return [float(np.linalg.norm(points[i] - centroids[c])) for i, c in enumerate(labels)]


def representatives(labels: Sequence[int], distances: Sequence[float]) -> dict[int, int]:
    """Each cluster's member closest to its centre (the first one on a tie)."""
    best: dict[int, int] = {}
    for index, cluster in enumerate(labels):
        if cluster not in best or distances[index] < distances[best[cluster]]:
            best[cluster] = index
    return dict(sorted(best.items()))


def rule_key(rule: str) -> str:
    """A rule's text for exact-duplicate detection: case, spacing and punctuation ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", rule.lower()).split())


def first_of_each(rules: Sequence[str]) -> list[int]:
    """Positions of the first occurrence of each distinct rule (by ``rule_key``)."""
    seen: set[str] = set()
    kept = []
    for index, rule in enumerate(rules):
        key = rule_key(rule)
        if key not in seen:
            seen.add(key)
            kept.append(index)
    return kept


# -- votes -----------------------------------------------------------------------------------


def unshuffle(answer: str, order: str) -> str:
    """A judge's answer about the texts as shown ("A", "B", "both", "none") as a pick of the
    original texts ("a", "b", "both", "none"); ``order`` "ba" means B was shown first."""
    if answer in ("A", "B"):
        shown_first = answer == "A"
        return "a" if shown_first == (order == "ab") else "b"
    return answer


def shown_texts(text_a: str, text_b: str, order: str) -> tuple[str, str]:
    """The two texts in the order the judge sees them."""
    return (text_a, text_b) if order == "ab" else (text_b, text_a)


def verdict(pick: str, preferred: str) -> str:
    """What a rule's pick says about the label: for, against, or abstain."""
    if pick in ("both", "none"):
        return "abstain"
    return "for" if pick == preferred else "against"


def parse_vote(value: object) -> str | None:
    """A vote value as one of VOTE_ANSWERS, or None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    for answer in VOTE_ANSWERS:
        if text.lower() == answer.lower():
            return answer
    return None


@dataclass
class Tally:
    votes_for: int = 0
    against: int = 0
    abstain: int = 0
    invalid: int = 0

    @property
    def valid(self) -> int:
        return self.votes_for + self.against + self.abstain

    @property
    def total(self) -> int:
        return self.valid + self.invalid

    @property
    def score(self) -> int:
        return self.votes_for - self.against

    def add(self, verdict_: str) -> None:
        field = {"for": "votes_for", "against": "against", "abstain": "abstain"}.get(
            verdict_, "invalid")
        setattr(self, field, getattr(self, field) + 1)


def tally(votes: Iterable[tuple[str, str]]) -> dict[str, Tally]:
    """Per rule id, the count of each verdict in ``(rule_id, verdict)`` pairs."""
    tallies: dict[str, Tally] = {}
    for rule_id, verdict_ in votes:
        tallies.setdefault(rule_id, Tally()).add(verdict_)
    return tallies


# -- filtering and ranking -------------------------------------------------------------------


def drop_reason(counts: Tally, min_for_share: float) -> str:
    """Why a rule fails the filter, or "" when it passes (for > against, for >= the share
    of its votes, fewer invalid votes than valid ones)."""
    if counts.total == 0:
        return "no votes"
    if counts.invalid >= counts.valid:
        return f"invalid votes ({counts.invalid}) not fewer than valid ones ({counts.valid})"
    if counts.votes_for <= counts.against:
        return f"for ({counts.votes_for}) not above against ({counts.against})"
    if counts.votes_for < min_for_share * counts.total:
        return (f"for ({counts.votes_for}) below {min_for_share:.0%} of"
                f" {counts.total} votes")
    return ""


def ranked(rule_ids: Sequence[str], tallies: dict[str, Tally]) -> list[str]:
    """Rule ids by for - against, then by for, then in their given order."""
    position = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    return sorted(rule_ids, key=lambda r: (-tallies[r].score, -tallies[r].votes_for,
                                           position[r]))


def best_of_each(ranked_ids: Sequence[str], labels: Sequence[int]) -> list[str]:
    """From ids in rank order and their clusters, the best-ranked id of each cluster."""
    kept: dict[int, str] = {}
    for rule_id, cluster in zip(ranked_ids, labels, strict=True):
        kept.setdefault(cluster, rule_id)
    return [r for r in ranked_ids if r in kept.values()]


def agreement(picks: Sequence[str | None], labels: Sequence[str]) -> float | None:
    """Share of pairs where the judge's pick matches the label (a failed pick counts wrong)."""
    if not labels:
        return None
    return sum(p == label for p, label in zip(picks, labels, strict=True)) / len(labels)
