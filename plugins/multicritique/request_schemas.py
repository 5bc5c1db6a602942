"""JSON schemas the models must answer in, one per structured step.

Built from ``datagen.shapes`` (bounded texts and lists, enums for labels, severities and
scores). Tags and criterion names are enums built per request, so a unit cannot cite a
sentence or a criterion that does not exist.
"""

from __future__ import annotations

from typing import Any

from datagen.shapes import bounded_list, strict_object, text, text_budget

from .options import IMPORTANCE, LABELS, SEVERITIES


def task_description_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object({"task_description": text(text_budget(max_tokens, 12, 1))})


def criteria_schema(max_primary: int, max_fine_grained: int, max_tokens: int) -> dict[str, Any]:
    fine_count = max_primary * max_fine_grained
    # keys and punctuation: ~18 tokens per fine-grained criterion, ~10 per primary; a name
    # takes one share of the rest and a description two
    overhead = 8 + 10 * max_primary + 18 * fine_count
    share = text_budget(max_tokens, overhead, max_primary + 3 * fine_count)
    name_chars = min(40, share)
    fine = strict_object(
        {
            "name": text(name_chars),
            "description": text(2 * share),
            "importance": {"type": "string", "enum": list(IMPORTANCE)},
        }
    )
    primary = strict_object(
        {"name": text(name_chars), "fine_grained": bounded_list(fine, max_fine_grained, 1)}
    )
    return strict_object({"primary": bounded_list(primary, max_primary, 1)})


def reference_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object({"reference": text(text_budget(max_tokens, 10, 1))})


def critique_schema(
    tags: list[str], criteria: list[str], max_units: int, max_tokens: int
) -> dict[str, Any]:
    # per unit: keys, tags, criterion and severity take ~40 tokens; two texts share the rest
    chars = text_budget(max_tokens, 8 + 40 * max_units, 2 * max_units)
    unit = strict_object(
        {
            "tags": bounded_list({"type": "string", "enum": tags}, 3, 1),
            "criterion": {"type": "string", "enum": criteria},
            "description": text(chars),
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "suggestion": text(chars),
        }
    )
    return strict_object({"units": bounded_list(unit, max_units)})


def meta_label_schema(max_tokens: int) -> dict[str, Any]:
    reason = text(text_budget(max_tokens, 16, 1))
    return strict_object({"label": {"type": "string", "enum": list(LABELS)}, "reason": reason})


def aggregate_schema(
    primary: list[str],
    repairable: int,
    criteria: list[str],
    score_range: range,
    max_tokens: int,
) -> dict[str, Any]:
    overhead = 12 + 14 * len(primary) + 30 * repairable
    chars = text_budget(max_tokens, overhead, len(primary) + repairable)
    summary = strict_object(
        {"criterion": {"type": "string", "enum": primary}, "summary": text(chars)}
    )
    properties: dict[str, Any] = {}
    if repairable:
        repaired = strict_object(
            {
                "unit": {"type": "integer", "enum": list(range(1, repairable + 1))},
                "criterion": {"type": "string", "enum": criteria},
                "severity": {"type": "string", "enum": list(SEVERITIES)},
                "suggestion": text(chars),
            }
        )
        properties["repaired"] = bounded_list(repaired, repairable)
    properties["summaries"] = bounded_list(summary, len(primary), 1)
    properties["score"] = {"type": "integer", "enum": list(score_range)}
    return strict_object(properties)


def revision_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object({"revised_response": text(text_budget(max_tokens, 12, 1))})


def score_schema(score_range: range) -> dict[str, Any]:
    return strict_object({"score": {"type": "integer", "enum": list(score_range)}})
