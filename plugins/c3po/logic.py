"""C3PO's pure rules: scope filtering, duplicates, the seeded split and the eval arithmetic."""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from datagen.errors import InvalidInput

from .options import SCOPES

JUDGE_SCORES = range(1, 6)
_WORD = re.compile(r"[a-z0-9']+")


# -- prompts ----------------------------------------------------------------------------
def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def find_duplicates(texts: Sequence[str], similarity: float) -> list[int | None]:
    """For each text, the index of an earlier kept text it copies (word-set Jaccard), or None."""
    kept: list[tuple[int, frozenset[str]]] = []
    found: list[int | None] = []
    for index, text in enumerate(texts):
        bag = words(text)
        twin = next((k for k, other in kept if jaccard(bag, other) >= similarity), None)
        found.append(twin)
        if twin is None:
            kept.append((index, bag))
    return found


def scope_mismatch(scope: str, applies: bool) -> str | None:
    """Why a prompt is outside its intended scope, or None when it fits."""
    if scope == "in_scope" and not applies:
        return "out of intended scope: the feedback does not apply to this in-scope prompt"
    if scope != "in_scope" and applies:
        kind = scope.replace("_", "-")
        return f"out of intended scope: the feedback applies to this {kind} prompt"
    return None


def seeded_rng(seed: int, *key: str) -> random.Random:
    digest = hashlib.sha256("\x1f".join((str(seed), *key)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def draw(items: Sequence[str], count: int, seed: int, *key: str) -> list[str]:
    """``count`` distinct items (all if fewer), the same for the same seed and key."""
    picked = list(items)
    seeded_rng(seed, *key).shuffle(picked)
    return picked[:count]


def test_count(size: int, fraction: float) -> int:
    """Rows of a group that go to the test split: the rounded fraction, at least one when the
    group has two or more rows and the fraction is positive (so every scope is evaluated)."""
    if size < 2 or fraction <= 0:
        return 0
    return min(size - 1, max(1, round(size * fraction)))


def assign_split(ids: Sequence[str], fraction: float, seed: int, *key: str) -> dict[str, str]:
    """``train`` or ``test`` for each id; a seeded choice of ``test_count`` ids is ``test``."""
    order = draw(sorted(ids), len(ids), seed, "split", *key)
    test = set(order[: test_count(len(ids), fraction)])
    return {i: "test" if i in test else "train" for i in ids}


def check_kind(kind: object, where: str) -> str:
    """A row's scope kind, or ``InvalidInput`` naming the row and the allowed kinds."""
    if kind not in SCOPES:
        raise InvalidInput(f"unknown scope kind {kind!r}; allowed: {', '.join(SCOPES)}", path=where)
    return str(kind)


# -- evaluation -------------------------------------------------------------------------
def mapped(score: float) -> float:
    """A 1-5 judge score (or a mean of them) on [-1, 1]: (s - 3) / 2."""
    return (score - 3) / 2


@dataclass(frozen=True)
class FeedbackScore:
    s_in: float
    s_out: float
    n_in: int
    n_out: int

    @property
    def overall(self) -> float:
        return overall(self.s_in, self.s_out)

    def as_dict(self) -> dict[str, float | int]:
        return {"S_in": self.s_in, "S_out": self.s_out, "S_overall": self.overall,
                "n_in": self.n_in, "n_out": self.n_out}


def overall(s_in: float, s_out: float) -> float:
    """S_overall = (S_in + 1 - S_out) / 2."""
    return (s_in + 1 - s_out) / 2


def feedback_score(judged: Iterable[tuple[str, float]]) -> FeedbackScore:
    """S_in (mean mapped score in scope) and S_out (mean |mapped| elsewhere) of one feedback.

    A scope with no judged prompt scores NaN, so a missing half is never read as a result.
    """
    inside: list[float] = []
    outside: list[float] = []
    for kind, score in judged:
        value = mapped(score)
        if kind == "in_scope":
            inside.append(value)
        else:
            outside.append(abs(value))
    return FeedbackScore(_mean(inside), _mean(outside), len(inside), len(outside))


def average(scores: Sequence[FeedbackScore]) -> dict[str, float | int]:
    """The overall figures: means over feedbacks of S_in, S_out and S_overall."""
    return {
        "S_in": _mean([s.s_in for s in scores]),
        "S_out": _mean([s.s_out for s in scores]),
        "S_overall": _mean([s.overall for s in scores]),
        "feedbacks": len(scores),
        "n_in": sum(s.n_in for s in scores),
        "n_out": sum(s.n_out for s in scores),
    }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
