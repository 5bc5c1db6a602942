"""Aggregation into one final critique per response (``critique-sft``).

The ``aggregator`` role sees the crucial information (task, criteria, reference), the units
the judge kept and the ones it must repair (with the judge's verdict), and writes the
repairs, a summary per primary criterion and a score anchored on the reference. The
host-side rules merge duplicates and render the critique the SFT conversation trains on.
"""

from __future__ import annotations

from typing import Any

from datagen.generator import stable_id
from datagen.steps import Ask, StepKit, check_in_range, live

from . import prompts
from . import request_schemas as schemas
from .conversation import critic_conversation
from .inputs import Item
from .logic import merge_duplicates, render_critique
from .options import LABEL_NAMES, SEVERITIES, MultiCritiqueOptions
from .records import Unit, parse_summaries
from .requests import step_request


def aggregate(kit: StepKit, options: MultiCritiqueOptions, items: list[Item]) -> None:
    o = options
    asks, plans = [], []
    for item in live(items):
        kept = [u for u in item.all_units() if item.labels.get(u.id) in o.keep_labels]
        repairable = [u for u in item.all_units() if item.labels.get(u.id) in o.repair_labels]
        budget = schemas.aggregate_tokens(
            len(item.primary_names), len(repairable), o.max_tokens.aggregate
        )
        schema = schemas.aggregate_schema(
            item.primary_names, len(repairable), item.criteria_names, o.score_range, budget
        )
        text = prompts.aggregate(
            item.query, item.tagged.text(), item.crucial_context(), item.primary_names, kept,
            [(u, _judged(item, u)) for u in repairable],
            prompts.score_anchor(bool(item.reference), o.score_range),
        )
        request = step_request(o, "aggregate", text, schema, role="aggregate",
                               max_tokens=budget)
        asks.append(Ask("aggregator", request, item.input_id))
        plans.append((item, kept, repairable))

    def check(ask: Ask, data: Any) -> Any:
        return check_aggregate(data, o.score_range)

    for (item, kept, repairable), answer in zip(plans, kit.structured(asks, check), strict=True):
        if answer is None:
            item.failed = True
        else:
            write_sft_row(kit, o, item, kept, repairable, answer.data)


def _judged(item: Item, unit: Unit) -> str:
    label = item.labels[unit.id]
    return f"{label} ({LABEL_NAMES[label]}): {item.reasons.get(unit.id, '')}".strip()


def check_aggregate(data: Any, score_range: range) -> Any:
    check_in_range(data.get("score"), score_range)
    data["summaries"] = parse_summaries(data)
    return data


def write_sft_row(
    kit: StepKit, options: MultiCritiqueOptions, item: Item, kept: list[Unit],
    repairable: list[Unit], data: Any,
) -> None:
    repaired = apply_repairs(repairable, data.get("repaired", {}), item.criteria_names)
    final_units = merge_duplicates(kept + repaired)
    for unit in final_units:
        unit.id = stable_id("final_unit", item.input_id, unit.tags, unit.criterion)
    text = render_critique(final_units, data["summaries"], data["score"], options.score_max)
    row_id = stable_id("critique-sft", item.input_id)
    kit.out.rows.append(_sft_row(item, options, row_id, final_units, data, text))
    used = {s for u in final_units for s in u.sources}
    kit.record(
        "final_critiques",
        [
            {
                "id": row_id,
                "input_id": item.input_id,
                "kept_unit_ids": [u.id for u in kept],
                "repaired_unit_ids": [s for u in repaired for s in u.sources],
                "dropped_unit_ids": [u.id for u in item.all_units() if u.id not in used],
                "final_units": len(final_units),
                "score": data["score"],
                "critique": text,
            }
        ],
    )


def _sft_row(
    item: Item, options: MultiCritiqueOptions, row_id: str, final_units: list[Unit], data: Any,
    text: str,
) -> dict[str, Any]:
    prompt, completion = critic_conversation(item, options, text)
    return {
        "id": row_id,
        "input_id": item.input_id,
        "query": item.query,
        "response": item.response,
        "task_type": item.task_type,
        "tagged_response": item.tagged.text(),
        "task_description": item.task,
        "criteria": [c.as_dict() for c in item.criteria],
        "reference": item.reference,
        "units": [final_unit_record(u) for u in final_units],
        "summaries": data["summaries"],
        "score": data["score"],
        "critique": text,
        "agents": sorted(item.units),
        "messages": prompt + completion,
    }


def apply_repairs(
    repairable: list[Unit], repairs: dict[str, Any], criteria_names: list[str]
) -> list[Unit]:
    """Every fixable unit, with the aggregator's corrections where it gave valid ones."""
    fixed = []
    for number, base in enumerate(repairable, 1):
        fix = repairs.get(str(number)) or {}
        criterion = fix.get("criterion")
        severity = fix.get("severity")
        fixed.append(
            Unit(
                tags=list(base.tags),
                criterion=criterion if criterion in criteria_names else base.criterion,
                description=_text(fix.get("description")) or base.description,
                severity=severity if severity in SEVERITIES else base.severity,
                suggestion=_text(fix.get("suggestion")) or base.suggestion,
                agent=base.agent,
                id=base.id,
                sources=[base.id],
            )
        )
    return fixed


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def final_unit_record(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "tags": unit.tags,
        "criterion": unit.criterion,
        "description": unit.description,
        "severity": unit.severity,
        "suggestion": unit.suggestion,
        "sources": unit.sources,
    }
