"""Pure rules of the simulated annotators and users, unit-tested without a model.

Seeded draws hash (seed, purpose, item id), so a rerun, a resumed build or a different
batch size gives every item the same annotator, order and coin.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from itertools import combinations

Label = int  # 1: output_1 is better, 2: output_2 is better


# -- seeded draws ----------------------------------------------------------------------
def seeded_unit(seed: int, purpose: str, item_id: str) -> float:
    """A number in [0, 1) fixed by (seed, purpose, item id)."""
    digest = hashlib.sha256(f"{seed}\x1f{purpose}\x1f{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def route(item_id: str, seed: int, pool_size: int) -> int:
    """The annotator (0..pool_size-1) a pair goes to."""
    if pool_size < 1:
        raise ValueError("the annotator pool is empty")
    return int(seeded_unit(seed, "route", item_id) * pool_size)


def shown_swapped(item_id: str, seed: int, annotator: str = "") -> bool:
    """Whether ``annotator`` is shown the pair as (output_2, output_1), in seeded order.

    Each annotator draws its own order, so when several label one pair (agreement runs)
    a shared position bias does not pass for agreement between them.
    """
    return seeded_unit(seed, "order", f"{item_id}\x1f{annotator}") < 0.5


def unswap(shown_label: Label, swapped: bool) -> Label:
    """The label in the pair's own order, from the label given in the shown order."""
    return (3 - shown_label) if swapped else shown_label


def combine_orders(straight: Label, reversed_unswapped: Label) -> Label | None:
    """Both orders' labels (already in the pair's order): the label if they agree, else None."""
    return straight if straight == reversed_unswapped else None


@dataclass(frozen=True)
class Noised:
    preference: Label
    is_noisy: bool


def add_noise(label: Label, item_id: str, seed: int, fraction: float) -> Noised:
    """Replace the label by a seeded coin flip for ``fraction`` of items.

    The coin lands on the other label half the time, so ``fraction / 2`` of labels flip.
    """
    if seeded_unit(seed, "noise", item_id) >= fraction:
        return Noised(label, False)
    coin = 1 if seeded_unit(seed, "coin", item_id) < 0.5 else 2
    return Noised(coin, True)


# -- agreement arithmetic --------------------------------------------------------------
def agreement(labels: Mapping[str, Label], gold: Mapping[str, Label]) -> float | None:
    """Share of items labelled in both where the labels are equal; None if none shared."""
    shared = [k for k in labels if k in gold]
    if not shared:
        return None
    return sum(labels[k] == gold[k] for k in shared) / len(shared)


def majority(labels: Sequence[Label]) -> Label | None:
    """The label most of ``labels`` give; None on a tie or no labels."""
    ones, twos = labels.count(1), labels.count(2)
    if ones == twos:
        return None
    return 1 if ones > twos else 2


def pairwise_agreement(by_annotator: Mapping[str, Mapping[str, Label]]) -> float | None:
    """Mean, over pairs of annotators, of their agreement on the items both labelled."""
    scores = [
        score
        for a, b in combinations(sorted(by_annotator), 2)
        if (score := agreement(by_annotator[a], by_annotator[b])) is not None
    ]
    return sum(scores) / len(scores) if scores else None


def held_out_agreement(by_annotator: Mapping[str, Mapping[str, Label]]) -> float | None:
    """How often one annotator matches the majority of the others (ties count half).

    This is how the method measured human agreement: each annotator held out in turn
    against the majority of the rest, averaged over annotators and items.
    """
    credits: list[float] = []
    for name, labels in by_annotator.items():
        for item, label in labels.items():
            others = [v[item] for n, v in by_annotator.items() if n != name and item in v]
            if not others:
                continue
            verdict = majority(others)
            credits.append(0.5 if verdict is None else float(verdict == label))
    return sum(credits) / len(credits) if credits else None


# -- simulated users -------------------------------------------------------------------
class Move(Enum):
    CLARIFY = "clarifying_question"  # the system asks a clarifying question
    ANSWER = "answer"  # the system answers
    USER_CLARIFY = "clarifying_answer"  # the user answers the clarifying question
    USER_FEEDBACK = "feedback"  # the user judges the answer
    DONE = "done"


@dataclass(frozen=True)
class Turn:
    participant: str  # "user" | "system"
    utterance: str
    type: str  # question, clarifying_question, clarifying_answer, answer, feedback
    verdict: str = ""  # feedback turns: satisfied, too_vague, not_what_i_asked

    def as_dict(self) -> dict[str, str]:
        return {"participant": self.participant, "utterance": self.utterance,
                "type": self.type, "verdict": self.verdict}


SATISFIED = "satisfied"
VERDICTS = (SATISFIED, "too_vague", "not_what_i_asked")


@dataclass
class Dialogue:
    """One simulated conversation and the counters its state machine reads."""

    input_id: str
    need: str
    opening: str
    topic: str = ""
    clarify_left: int = 0
    turns: list[Turn] = field(default_factory=list)
    failed: bool = False

    def __post_init__(self) -> None:
        if not self.turns:
            self.turns.append(Turn("user", self.opening, "question"))

    @property
    def feedback_rounds(self) -> int:
        return sum(t.type == "feedback" for t in self.turns)

    @property
    def satisfied(self) -> bool:
        return bool(self.turns) and self.turns[-1].verdict == SATISFIED

    def add(self, turn: Turn) -> None:
        if turn.type == "clarifying_question":
            self.clarify_left -= 1
        self.turns.append(turn)


def next_move(dialogue: Dialogue, max_feedback_rounds: int) -> Move:
    """What happens next, from the last turn and the counters."""
    last = dialogue.turns[-1].type
    if last in ("question", "clarifying_answer"):
        return Move.CLARIFY if dialogue.clarify_left > 0 else Move.ANSWER
    if last == "clarifying_question":
        return Move.USER_CLARIFY
    if last == "answer":
        return Move.USER_FEEDBACK
    if dialogue.satisfied or dialogue.feedback_rounds >= max_feedback_rounds:
        return Move.DONE
    return Move.ANSWER


def clarifications_for(item_id: str, seed: int, rate: float, count: int) -> int:
    """How many clarifying questions the system asks in this dialogue (0 or ``count``)."""
    return count if seeded_unit(seed, "clarify", item_id) < rate else 0


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def longest_shared_run(need: str, utterance: str) -> int:
    """The length, in words, of the longest run of words the two texts share in order."""
    a, b = words(need), words(utterance)
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def leaks_need(need: str, utterance: str, threshold: float, min_words: int) -> bool:
    """Whether ``utterance`` repeats the written need (nearly) verbatim."""
    need_words = len(words(need))
    if need_words == 0:
        return False
    run = longest_shared_run(need, utterance)
    return run >= min(min_words, need_words) and run / need_words >= threshold


_ASSISTANT_VOICE = (
    "as an ai", "as a language model", "i'm an assistant", "i am an assistant",
    "how can i help", "how can i assist", "i'd be happy to help", "i would be happy to help",
    "here is the answer", "here's the answer", "here is some information",
    "is there anything else i can", "let me know if you have any other questions",
)


def breaks_role(utterance: str) -> str | None:
    """Why a simulated user's utterance sounds like the assistant, or None if it does not."""
    lowered = " ".join(utterance.lower().split())
    for phrase in _ASSISTANT_VOICE:
        if phrase in lowered:
            return f"the simulated user spoke as the assistant ({phrase!r})"
    return None


_STOP_WORDS = (
    "a an the of to in on for and or is are was were be what which who how why when where do"
    " does did you your i me my it its this that with about can could would should any some"
    " tell know more"
)
_STOP = frozenset(_STOP_WORDS.split())


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP and len(w) > 2}


@dataclass(frozen=True)
class QuestionPool:
    """Clarifying questions with their content words, computed once."""

    questions: tuple[str, ...]
    word_sets: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, questions: Sequence[str]) -> QuestionPool:
        kept = tuple(q.strip() for q in questions if q and q.strip())
        if not kept:
            raise ValueError("the clarifying question pool is empty")
        return cls(kept, tuple(frozenset(content_words(q)) for q in kept))


def pick_question(
    utterance: str, pool: QuestionPool, item_id: str, seed: int, asked: Sequence[str] = ()
) -> str:
    """The pool question sharing most content words with ``utterance`` (seeded tie-break),
    never one already ``asked`` unless the pool has nothing else."""
    wanted = content_words(utterance)
    shared = [-1 if q in asked else len(wanted & w)
              for q, w in zip(pool.questions, pool.word_sets, strict=True)]
    best = max(shared)
    tied = [i for i, n in enumerate(shared) if n == best]
    return pool.questions[tied[int(seeded_unit(seed, "question", item_id) * len(tied))]]
