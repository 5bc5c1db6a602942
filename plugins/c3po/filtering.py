"""Step 4 (over every candidate at once): out-of-scope prompts from the pool, duplicates,
the author's scope check, the per-scope target counts and the seeded test split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datagen.generator import stable_id
from datagen.steps import Ask, StepKit

from . import logic, prompts
from .options import SCOPES, FeedbackPrefsOptions
from .requests import APPLIES, step_request


@dataclass
class Candidate:
    id: str
    feedback_id: str
    scope: str
    prompt: str
    category: str = ""
    source: str = "author"
    reason: str = ""

    @property
    def kept(self) -> bool:
        return not self.reason

    def decision(self) -> dict[str, Any]:
        return {"id": self.id, "input_id": self.feedback_id, "feedback_id": self.feedback_id,
                "category": self.category, "scope": self.scope, "source": self.source,
                "prompt": self.prompt, "kept": self.kept, "reason": self.reason}


def pool_candidates(options: FeedbackPrefsOptions, feedback_id: str,
                    pool: Sequence[str]) -> list[Candidate]:
    """A seeded draw from the general pool, different for each feedback."""
    drawn = logic.draw(pool, options.pool_draw(), options.seed, "pool", feedback_id)
    return [Candidate(stable_id(feedback_id, "pool", text), feedback_id, "out_of_scope", text,
                      source="pool") for text in drawn]


def mark_duplicates(candidates: list[Candidate], similarity: float) -> None:
    twins = logic.find_duplicates([c.prompt for c in candidates], similarity)
    for candidate, twin in zip(candidates, twins, strict=True):
        if twin is not None:
            candidate.reason = f"duplicate of {candidates[twin].id}"


def check_scopes(kit: StepKit, options: FeedbackPrefsOptions, candidates: list[Candidate],
                 feedbacks: dict[str, dict[str, Any]]) -> None:
    """The author says whether the feedback applies; a prompt in the wrong scope is dropped."""
    live = [c for c in candidates if c.kept]
    asks = []
    for c in live:
        feedback = feedbacks[c.feedback_id]
        content = prompts.scope_check(feedback["content"], feedback["domain"], c.prompt)
        asks.append(Ask("author", step_request(options, "scope_check", content, APPLIES), c.id))
    for candidate, answer in zip(live, kit.structured(asks), strict=True):
        if answer is None:
            candidate.reason = "scope check failed (see the failures table)"
            continue
        mismatch = logic.scope_mismatch(candidate.scope, answer.data["applies"] == "yes")
        candidate.reason = mismatch or ""


def cap_counts(options: FeedbackPrefsOptions, candidates: list[Candidate]) -> None:
    """Keep at most the target count per scope, first come first kept."""
    for scope in SCOPES:
        kept = [c for c in candidates if c.scope == scope and c.kept]
        for extra in kept[options.target(scope):]:
            extra.reason = f"over the target of {options.target(scope)} {scope} prompts"


def scoped_rows(options: FeedbackPrefsOptions, candidates: list[Candidate]) -> list[dict[str, Any]]:
    """Kept prompts with a seeded split drawn per feedback and scope."""
    rows: list[dict[str, Any]] = []
    for scope in SCOPES:
        kept = [c for c in candidates if c.scope == scope and c.kept]
        if not kept:
            continue
        splits = logic.assign_split([c.id for c in kept], options.test_fraction, options.seed,
                                    kept[0].feedback_id, scope)
        rows.extend({"id": c.id, "input_id": c.feedback_id, "feedback_id": c.feedback_id,
                     "category": c.category, "scope": scope, "prompt": c.prompt,
                     "split": splits[c.id]} for c in kept)
    return rows


def filter_all(kit: StepKit, options: FeedbackPrefsOptions,
               by_feedback: dict[str, list[Candidate]],
               feedbacks: dict[str, dict[str, Any]]) -> None:
    """Every rule over each feedback's candidates (the scope check of all of them in one go),
    recording each decision and the kept rows."""
    for candidates in by_feedback.values():
        mark_duplicates(candidates, options.dedupe_similarity)
    if options.scope_check:
        check_scopes(kit, options, [c for cs in by_feedback.values() for c in cs], feedbacks)
    for candidates in by_feedback.values():
        cap_counts(options, candidates)
        kit.record("filter_decisions", [c.decision() for c in candidates])
        kit.record("scoped_prompts", scoped_rows(options, candidates))


def from_records(records: list[dict[str, Any]]) -> list[Candidate]:
    return [Candidate(r["id"], r["feedback_id"], r["scope"], r["prompt"], r["category"])
            for r in records]
