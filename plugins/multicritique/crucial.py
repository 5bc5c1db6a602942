"""Crucial information, three calls in order: task description, criteria, reference.

Each is one call per live item by the ``ci`` role; an item whose answer fails is failed
(its failure row keeps the raw answer) and leaves the later steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datagen.generator import stable_id
from datagen.steps import Ask, Check, StepKit, live

from . import prompts
from . import request_schemas as schemas
from .inputs import Item
from .options import MultiCritiqueOptions
from .records import parse_criteria
from .requests import step_request


def crucial_info(kit: StepKit, options: MultiCritiqueOptions, items: list[Item]) -> None:
    task_descriptions(kit, options, items)
    criteria(kit, options, items)
    references(kit, options, items)
    kit.record("crucial_info", [_crucial_info_record(options, i) for i in live(items)])


def _ask_each(
    kit: StepKit,
    options: MultiCritiqueOptions,
    step: str,
    items: list[Item],
    prompt: Callable[[Item], str],
    schema: dict,
    assign: Callable[[Item, Any], None],
    check: Check | None = None,
) -> None:
    """One call per item; a failed answer fails the item."""
    asks = [
        Ask("ci", step_request(options, step, prompt(i), schema, role="ci"), i.input_id)
        for i in items
    ]
    for item, answer in zip(items, kit.structured(asks, check), strict=True):
        if answer is None:
            item.failed = True
        else:
            assign(item, answer.data)


def task_descriptions(kit: StepKit, options: MultiCritiqueOptions, items: list[Item]) -> None:
    def assign(item: Item, data: Any) -> None:
        item.task = data["task_description"].strip()

    _ask_each(
        kit, options, "task_description", live(items),
        lambda i: prompts.task_description(i.query),
        schemas.task_description_schema(options.max_tokens.task_description),
        assign,
    )


def criteria(kit: StepKit, options: MultiCritiqueOptions, items: list[Item]) -> None:
    o = options
    pending = live(items)
    by_id = {i.input_id: i for i in pending}

    def check(ask: Ask, data: Any) -> Any:
        item = by_id[ask.input_id]
        return parse_criteria(data, item.user_criteria, o.max_criteria, o.max_fine_grained)

    def assign(item: Item, data: Any) -> None:
        item.criteria = data

    _ask_each(
        kit, o, "criteria", pending,
        lambda i: prompts.criteria(
            i.query, i.task, i.user_criteria, (o.max_primary, o.max_fine_grained)
        ),
        schemas.criteria_schema(o.max_primary, o.max_fine_grained, o.max_tokens.criteria),
        assign,
        check,
    )


def references(kit: StepKit, options: MultiCritiqueOptions, items: list[Item]) -> None:
    wanted = []
    for item in live(items):
        if skips_reference(options, item):
            continue
        if item.given_reference:  # a reference the input brings beats a generated one
            item.reference = item.given_reference
        else:
            wanted.append(item)

    def assign(item: Item, data: Any) -> None:
        item.reference = data["reference"].strip()

    _ask_each(
        kit, options, "reference", wanted,
        lambda i: prompts.reference(i.query, i.task, i.criteria),
        schemas.reference_schema(options.max_tokens.reference),
        assign,
    )


def skips_reference(options: MultiCritiqueOptions, item: Item) -> bool:
    return item.task_type in {t.lower() for t in options.reference_skip_task_types}


def _crucial_info_record(options: MultiCritiqueOptions, item: Item) -> dict[str, Any]:
    return {
        "id": stable_id("crucial_info", item.input_id),
        "input_id": item.input_id,
        "task_type": item.task_type,
        "tagged_response": item.tagged.text(),
        "task_description": item.task,
        "criteria": [c.as_dict() for c in item.criteria],
        "reference": item.reference,
        "reference_skipped": skips_reference(options, item),
    }
