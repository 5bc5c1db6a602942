"""Pure rules of ReverseGen: answer entropy, answer comparison, near-duplicate removal,
diversity measures, preference pairs and the folder key of a trained proposer.

Nothing here calls a model; every function is unit-tested on known values.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[a-z0-9]+")
_NUMBERING = re.compile(r"^\s*(?:\d+\s*[.):]|[-*])\s*")


# ----------------------------------------------------------------------------- answers


def final_answer(text: str) -> str:
    """The comparable core of an answer: its last number, else its first 12 words, lowercased."""
    numbers = _NUMBER.findall(text.replace(",", ""))
    if numbers:
        value = numbers[-1].rstrip(".")
        return value[:-2] if value.endswith(".0") else value
    return " ".join(_WORD.findall(text.lower())[:12])


def answer_entropy(answers: Sequence[str]) -> float:
    """Shannon entropy (nats) of the distribution of distinct final answers."""
    if not answers:
        return 0.0
    counts = Counter(final_answer(a) for a in answers)
    total = len(answers)
    return -sum((c / total) * math.log(c / total) for c in counts.values()) + 0.0


def answers_differ(answer: str, reference: str) -> bool:
    """True when the final answers differ (the math oracle's failure)."""
    return final_answer(answer) != final_answer(reference)


# ----------------------------------------------------------------------------- proposals


def proposer_shots(pool: Sequence[str], shots: int, rng: random.Random) -> list[str]:
    """``shots`` distinct seed instructions sampled from the pool (fewer if the pool is small)."""
    return rng.sample(list(pool), min(shots, len(pool)))


def parse_instruction(text: str, max_chars: int) -> str:
    """The first non-empty line of a proposer's answer, numbering removed, cut to ``max_chars``."""
    for line in text.splitlines():
        cleaned = _NUMBERING.sub("", line).strip().strip('"').strip()
        if cleaned:
            return cleaned[:max_chars]
    return ""


def invalid_reason(instruction: str, seeds: Iterable[str], min_words: int) -> str:
    """Why an instruction is not usable ("" when it is)."""
    if not instruction:
        return "empty instruction"
    if len(instruction.split()) < min_words:
        return f"fewer than {min_words} words"
    if normalize(instruction) in {normalize(s) for s in seeds}:
        return "copies a seed instruction"
    return ""


def normalize(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


# ----------------------------------------------------------------------------- dedup


def shingles(text: str, size: int = 3) -> set[str]:
    """Word ``size``-grams of the normalized text (the whole text if shorter)."""
    words = normalize(text).split()
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def minhash(text: str, permutations: int = 64) -> tuple[int, ...]:
    """A MinHash signature: per seeded hash, the smallest value over the text's shingles."""
    grams = shingles(text)
    return tuple(
        min(_hash64(f"{p}:{g}") for g in grams) for p in range(permutations)
    )


def _hash64(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


def signature_similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """The share of equal positions: an estimate of the shingles' Jaccard similarity."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def near_duplicates(
    vectors: Sequence[Any], threshold: float, similarity: Any
) -> list[int | None]:
    """For each item, the index of an earlier kept item it nearly copies, or ``None`` (kept)."""
    kept: list[int] = []
    verdicts: list[int | None] = []
    for index, vector in enumerate(vectors):
        twin = next((k for k in kept if similarity(vectors[k], vector) >= threshold), None)
        verdicts.append(twin)
        if twin is None:
            kept.append(index)
    return verdicts


# ----------------------------------------------------------------------------- diversity


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the texts (0 when there are none)."""
    grams = [g for t in texts for g in ngrams(normalize(t).split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], order: int = 4) -> float:
    """Sentence BLEU with add-one smoothing of the n-gram precisions and the brevity penalty."""
    if not hypothesis or not references:
        return 0.0
    log_sum = 0.0
    for n in range(1, order + 1):
        hyp = Counter(ngrams(hypothesis, n))
        best: Counter[tuple[str, ...]] = Counter()
        for ref in references:
            best |= Counter(ngrams(ref, n))
        matched = sum(min(c, best[g]) for g, c in hyp.items())
        log_sum += math.log((matched + 1) / (sum(hyp.values()) + 1))
    closest = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    penalty = 1.0 if len(hypothesis) > closest else math.exp(1 - closest / len(hypothesis))
    return penalty * math.exp(log_sum / order)


def self_bleu(texts: Sequence[str], order: int = 4) -> float:
    """Mean BLEU of each text against all the others (lower means more diverse)."""
    tokens = [normalize(t).split() for t in texts]
    if len(tokens) < 2:
        return 0.0
    scores = [bleu(t, tokens[:i] + tokens[i + 1 :], order) for i, t in enumerate(tokens)]
    return sum(scores) / len(scores)


# ----------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Labeled:
    """One labeled instruction of a round, as the pair builder sees it."""

    id: str
    prompt_id: str
    prompt: str
    instruction: str
    failed: bool


def build_pairs(items: Sequence[Labeled], per_prompt: int) -> list[tuple[Labeled, Labeled]]:
    """(chosen = made the target fail, rejected = did not) pairs sharing one 3-shot prompt.

    Within a prompt, failures and passes are matched in id order, at most ``per_prompt`` pairs;
    a prompt with only failures or only passes gives none.
    """
    by_prompt: dict[str, list[Labeled]] = {}
    for item in sorted(items, key=lambda i: (i.prompt_id, i.id)):
        by_prompt.setdefault(item.prompt_id, []).append(item)
    pairs: list[tuple[Labeled, Labeled]] = []
    for group in by_prompt.values():
        failed = [i for i in group if i.failed]
        passed = [i for i in group if not i.failed]
        pairs.extend(list(zip(failed, passed, strict=False))[:per_prompt])
    return pairs


def failure_rate(verdicts: Sequence[bool]) -> float:
    return sum(verdicts) / len(verdicts) if verdicts else 0.0
