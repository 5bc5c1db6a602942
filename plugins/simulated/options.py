"""Every count, threshold and model role of the simulated annotators and users.

Defaults are the papers' (METHODS.md section 5): a pool of 13 judges sampling at
temperature 1.0, half the training labels replaced by a coin flip, up to 3 feedback rounds.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.generator import GeneratorOptions

POOL_FILE = Path(__file__).parent / "catalog" / "data" / "annotator-pool.json"


class Annotator(BaseModel):
    """One simulated annotator: how it is told to judge and how it samples."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    instructions: str = Field(min_length=1)
    # "verdict": answer with the better output only; "reasoned": a short reason first
    template: Literal["verdict", "reasoned"] = "verdict"
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=4)
    model: int | None = Field(None, ge=0)  # index into the `annotators` role; default: own index


@cache
def bundled_pool() -> tuple[Annotator, ...]:
    """The annotator pool shipped as data (catalog/data/annotator-pool.json)."""
    document = json.loads(POOL_FILE.read_text(encoding="utf-8"))
    return tuple(Annotator.model_validate(a) for a in document["annotators"])


class PairColumns(BaseModel):
    """Which input columns hold a pair; ``id`` is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "id"
    instruction: str = "instruction"
    output_1: str = "output_1"
    output_2: str = "output_2"


class PrefsOptions(GeneratorOptions):
    """Options of ``simulated-prefs`` (AlpacaFarm-style simulated annotators)."""

    columns: PairColumns = PairColumns()
    annotators: tuple[Annotator, ...] = Field(default_factory=bundled_pool)
    # "seeded": each pair goes to one annotator by a seeded hash (training data);
    # "every": every annotator labels every pair (to measure annotators against gold labels)
    routing: Literal["seeded", "every"] = "seeded"
    # share of labels replaced by a seeded coin flip (paper: half, so a quarter flipped);
    # 0 for evaluation data
    noise_fraction: float = Field(0.5, ge=0.0, le=1.0)
    # position bias: "seeded" shows each pair once in a seeded, recorded order; "both" asks
    # the annotator in both orders and keeps only answers that agree
    order: Literal["seeded", "both"] = "seeded"
    max_tokens: int = Field(24, ge=4)  # a verdict: {"preferred": 1}
    reasoned_max_tokens: int = Field(96, ge=16)  # a short reason, then the verdict
    max_output_chars: int = Field(4000, ge=100)  # outputs are cut to this in the prompt

    @model_validator(mode="after")
    def _check(self) -> PrefsOptions:
        if not self.annotators:
            raise ValueError("annotators must list at least one annotator")
        names = [a.name for a in self.annotators]
        if len(set(names)) != len(names):
            raise ValueError("annotator names must be unique")
        return self

    def tokens_for(self, annotator: Annotator) -> int:
        if annotator.max_tokens is not None:
            return annotator.max_tokens
        return self.reasoned_max_tokens if annotator.template == "reasoned" else self.max_tokens


class NeedColumns(BaseModel):
    """Which input columns hold an information need and its opening utterance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "id"
    need: str = "need"
    utterance: str = "utterance"
    topic: str = "topic"


class DialogueTokens(BaseModel):
    """Output budget per turn kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer: int = Field(96, ge=8)
    clarifying_question: int = Field(40, ge=8)
    clarifying_answer: int = Field(48, ge=8)
    feedback: int = Field(64, ge=8)


class DialoguesOptions(GeneratorOptions):
    """Options of ``simulated-dialogues`` (ConvSim-style simulated users)."""

    columns: NeedColumns = NeedColumns()
    max_feedback_rounds: int = Field(3, ge=1, le=10)  # paper: up to 3
    # share of dialogues where the system first asks clarifying questions (seeded per need)
    clarify_rate: float = Field(1.0, ge=0.0, le=1.0)
    clarifying_questions: int = Field(1, ge=0, le=3)  # how many, before the first answer
    # where clarifying questions come from: the bundled CAsT pool (closest by shared words
    # to the opening utterance) or the system model
    question_source: Literal["pool", "generated"] = "pool"
    question_pool: str | None = None  # a JSONL file with a `question` field; default bundled
    # a clarifying answer leaks when its longest run of words shared with the need covers
    # this share of the need (and at least leak_min_words words)
    leak_threshold: float = Field(0.8, gt=0.0, le=1.0)
    leak_min_words: int = Field(3, ge=1)
    system_temperature: float = Field(0.0, ge=0.0, le=2.0)
    user_temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: DialogueTokens = DialogueTokens()
