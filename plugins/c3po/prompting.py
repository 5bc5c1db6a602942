"""Steps 2-3: categories per feedback, then in- and near-scope candidate prompts per category."""

from __future__ import annotations

import math
from typing import Any

from datagen.generator import stable_id
from datagen.steps import Ask, CheckFailed, StepKit

from . import prompts
from .options import FeedbackPrefsOptions
from .requests import categories_schema, prompts_schema, step_request

WRITERS = {"in_scope": prompts.in_scope_prompts, "near_scope": prompts.near_scope_prompts}


def categories(kit: StepKit, options: FeedbackPrefsOptions,
               feedbacks: list[dict[str, Any]]) -> None:
    """One request per feedback for ``options.categories`` distinct category names."""
    schema = categories_schema(options.categories)
    asks = [
        Ask("author", step_request(
            options, "categories",
            prompts.categories(f["content"], f["domain"], options.categories), schema,
        ), f["id"])
        for f in feedbacks
    ]
    for feedback, answer in zip(feedbacks, kit.structured(asks, _distinct_names), strict=True):
        if answer is not None:
            kit.record("categories", [
                {"id": stable_id(feedback["id"], name), "input_id": feedback["id"],
                 "feedback_id": feedback["id"], "category": name, "position": position}
                for position, name in enumerate(answer.data)
            ])


def _distinct_names(ask: Ask, data: Any) -> list[str]:
    names: dict[str, str] = {}
    for name in data.get("categories", []):
        cleaned = " ".join(str(name).split())
        if cleaned:
            names.setdefault(cleaned.lower(), cleaned)
    if not names:
        raise CheckFailed("the answer lists no category")
    return list(names.values())


def prompt_calls(options: FeedbackPrefsOptions, scope: str) -> list[int]:
    """How many prompts each request of one category and scope asks for."""
    wanted = options.per_category(scope)
    calls = math.ceil(wanted / options.prompts_per_call)
    return [min(options.prompts_per_call, wanted - n * options.prompts_per_call)
            for n in range(calls)]


def candidates(kit: StepKit, options: FeedbackPrefsOptions, category_rows: list[dict[str, Any]],
               feedbacks: dict[str, dict[str, Any]]) -> None:
    """Per category and scope, requests of up to ``prompts_per_call`` prompts each."""
    plan: list[tuple[dict[str, Any], str, int]] = []
    asks: list[Ask] = []
    for row in category_rows:
        domain = feedbacks[row["feedback_id"]]["domain"]
        for scope, writer in WRITERS.items():
            for call, count in enumerate(prompt_calls(options, scope)):
                request = step_request(options, "prompts", writer(domain, row["category"], count),
                                       prompts_schema(count), sample_index=call)
                asks.append(Ask("author", request, row["feedback_id"]))
                plan.append((row, scope, call))
    for (row, scope, call), answer in zip(plan, kit.structured(asks, _prompt_list), strict=True):
        if answer is not None:
            kit.record("candidates", [
                _candidate(row, scope, call, position, text)
                for position, text in enumerate(answer.data)
            ])


def _prompt_list(ask: Ask, data: Any) -> list[str]:
    texts = [t.strip() for t in data.get("prompts", []) if isinstance(t, str) and t.strip()]
    if not texts:
        raise CheckFailed("the answer lists no prompt")
    return texts


def _candidate(row: dict[str, Any], scope: str, call: int, position: int,
               text: str) -> dict[str, Any]:
    return {
        "id": stable_id(row["id"], scope, call, position),
        "input_id": row["feedback_id"],
        "feedback_id": row["feedback_id"],
        "category": row["category"],
        "scope": scope,
        "prompt": text,
        "call": call,
    }
