"""Every count, budget and switch of C3PO, with the paper's values as defaults.

The paper (Stephan et al., 2024) adapts a model to one piece of feedback with about 30
categories and 960 prompts per scope; the recipes for the embedded 135M model lower the
counts and budgets, each with its reason beside it.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.generator import GeneratorOptions

SCOPES = ("in_scope", "near_scope", "out_of_scope")


class MaxTokens(BaseModel):
    """Output budget per step (tokens)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    describe: int = Field(128, ge=16)  # domain and effect of a bare sentence
    categories: int = Field(768, ge=16)
    prompts: int = Field(1024, ge=32)
    scope_check: int = Field(16, ge=4)
    baseline: int = Field(512, ge=8)
    revision: int = Field(512, ge=8)


class Temperatures(BaseModel):
    """Sampling temperature per step; prompts are sampled for variety, checks are greedy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    describe: float = Field(0.0, ge=0.0, le=2.0)
    categories: float = Field(0.7, ge=0.0, le=2.0)
    prompts: float = Field(0.9, ge=0.0, le=2.0)
    scope_check: float = Field(0.0, ge=0.0, le=2.0)
    baseline: float = Field(0.0, ge=0.0, le=2.0)
    revision: float = Field(0.0, ge=0.0, le=2.0)


class FeedbackPrefsOptions(GeneratorOptions):
    """Options of the ``feedback-prefs`` generator (paper defaults unless noted)."""

    # one sentence of feedback replaces the input table (domain and effect are derived)
    feedback: str | None = Field(None, min_length=1)

    categories: int = Field(30, ge=1)
    in_scope_prompts: int = Field(960, ge=1)
    near_scope_prompts: int = Field(960, ge=1)
    out_of_scope_prompts: int = Field(960, ge=0)
    # not in the paper: extra candidates so the filter can drop some and still meet the counts
    oversample: float = Field(1.25, ge=1.0, le=4.0)
    # not in the paper: how many prompts one request asks for (bounds an answer's length)
    prompts_per_call: int = Field(16, ge=1, le=64)

    # out-of-scope prompts: a file with a `prompt` column; None = the bundled general pool
    pool: str | None = None
    dedupe_similarity: float = Field(0.8, gt=0.0, le=1.0)  # word-set Jaccard that marks a copy
    scope_check: bool = True  # the author confirms each prompt's scope; mismatches are dropped
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)

    max_tokens: MaxTokens = MaxTokens()
    temperatures: Temperatures = Temperatures()

    @model_validator(mode="after")
    def _check(self) -> FeedbackPrefsOptions:
        if self.feedback is not None and not self.feedback.strip():
            raise ValueError("feedback must not be blank")
        return self

    def target(self, scope: str) -> int:
        """How many prompts of ``scope`` a feedback keeps at most."""
        return {
            "in_scope": self.in_scope_prompts,
            "near_scope": self.near_scope_prompts,
            "out_of_scope": self.out_of_scope_prompts,
        }[scope]

    def per_category(self, scope: str) -> int:
        """Candidates to ask for per category (in- and near-scope), oversampled."""
        return max(1, math.ceil(self.target(scope) * self.oversample / self.categories))

    def pool_draw(self) -> int:
        """Out-of-scope candidates to draw from the pool per feedback."""
        return math.ceil(self.out_of_scope_prompts * self.oversample)


class FeedbackEvalOptions(GeneratorOptions):
    """Options of the ``feedback-eval`` generator (what ``datagen eval feedback`` builds)."""

    split: str = "test"  # rows of this split are evaluated ("" = every row)
    in_context: bool = False  # the model sees the feedback in its system prompt
    baseline_from_dataset: bool = True  # compare with the dataset's stored baselines
    answer_max_tokens: int = Field(512, ge=8)
    judge_max_tokens: int = Field(16, ge=4)
    # not in the paper: judge each pair in both orders (B = evaluated, then A = evaluated) and
    # average, so a judge that always prefers one position scores 3 (no change), not 1 or 5
    both_orders: bool = True
    temperature: float = Field(0.0, ge=0.0, le=2.0)
