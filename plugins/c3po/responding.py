"""Step 5: baselines from the student for every kept prompt, the author's revisions of the
in-scope ones, and the dataset's rows."""

from __future__ import annotations

from typing import Any

from datagen.generator import stable_id
from datagen.llm import Completion
from datagen.steps import Ask, StepKit

from . import prompts
from .options import FeedbackPrefsOptions
from .requests import answer_request, step_request


def usable(kit: StepKit, ask: Ask, completion: Completion, compare: str | None = None) -> bool:
    """A free-text answer that is there (and differs from ``compare``); else a failure row."""
    reason = completion.error or ("the answer is empty" if not completion.text.strip() else "")
    if not reason and compare is not None and completion.text.strip() == compare.strip():
        reason = "the revision is identical to the baseline"
    if reason:
        kit.out.failures.append(kit.failure(ask, completion, reason))
    return not reason


def baselines(kit: StepKit, options: FeedbackPrefsOptions,
              scoped: list[dict[str, Any]]) -> dict[str, str]:
    """The student answers each prompt alone; returns prompt id -> baseline."""
    asks = [Ask("student", answer_request(
        p["prompt"], step="baseline", max_tokens=options.max_tokens.baseline,
        temperature=options.temperatures.baseline, seed=options.seed), p["id"]) for p in scoped]
    found: dict[str, str] = {}
    records = []
    for prompt, ask, completion in zip(scoped, asks, kit.complete(asks), strict=True):
        if usable(kit, ask, completion):
            found[prompt["id"]] = completion.text.strip()
            records.append({"id": stable_id("baseline", prompt["id"]), "input_id": prompt["id"],
                            "prompt_id": prompt["id"], "feedback_id": prompt["feedback_id"],
                            "scope": prompt["scope"], "response": found[prompt["id"]],
                            "finish_reason": completion.finish_reason,
                            "model": kit.spec("student")})
    kit.record("baselines", records)
    return found


def revisions(kit: StepKit, options: FeedbackPrefsOptions, scoped: list[dict[str, Any]],
              base: dict[str, str], feedbacks: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The author rewrites each in-scope baseline to apply the effect; prompt id -> revision."""
    todo = [p for p in scoped if p["scope"] == "in_scope" and p["id"] in base]
    asks = []
    for p in todo:
        feedback = feedbacks[p["feedback_id"]]
        content = prompts.revision(feedback["content"], feedback["effect"], p["prompt"],
                                   base[p["id"]])
        asks.append(Ask("author", step_request(options, "revision", content), p["id"]))
    found: dict[str, str] = {}
    records = []
    for prompt, ask, completion in zip(todo, asks, kit.complete(asks), strict=True):
        if usable(kit, ask, completion, compare=base[prompt["id"]]):
            found[prompt["id"]] = completion.text.strip()
            records.append({"id": stable_id("revision", prompt["id"]), "input_id": prompt["id"],
                            "prompt_id": prompt["id"], "feedback_id": prompt["feedback_id"],
                            "revised": found[prompt["id"]],
                            "finish_reason": completion.finish_reason,
                            "model": kit.spec("author")})
    kit.record("revisions", records)
    return found


def rows(scoped: list[dict[str, Any]], base: dict[str, str], revised: dict[str, str],
         feedbacks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """In-scope: chosen = revision, rejected = baseline. Elsewhere: chosen = baseline."""
    out = []
    for p in scoped:
        if p["id"] not in base or (p["scope"] == "in_scope" and p["id"] not in revised):
            continue  # its failure row is already recorded
        in_scope = p["scope"] == "in_scope"
        chosen = revised[p["id"]] if in_scope else base[p["id"]]
        out.append(row(p, feedbacks[p["feedback_id"]], chosen,
                       base[p["id"]] if in_scope else None))
    return out


def row(prompt: dict[str, Any], feedback: dict[str, Any], chosen: str,
        rejected: str | None) -> dict[str, Any]:
    return {
        "id": stable_id("row", prompt["id"]),
        "prompt_id": prompt["id"],
        "feedback_id": prompt["feedback_id"],
        "feedback": feedback["content"],
        "domain": feedback["domain"],
        "effect": feedback["effect"],
        "kind": prompt["scope"],
        "category": prompt["category"],
        "split": prompt["split"],
        "prompt": [{"role": "user", "content": prompt["prompt"]}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": None if rejected is None else [{"role": "assistant", "content": rejected}],
    }
