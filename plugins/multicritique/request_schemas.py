"""JSON schemas the models must answer in, one per structured step.

They are small and bounded on purpose: enums for labels, severities, tags and scores,
``maxLength`` on every text and ``maxItems`` on every list, so a small model's grammar-
constrained output stays short and always parses. Tags and criterion names are enums built
per request, so a unit cannot cite a sentence or a criterion that does not exist.
"""

from __future__ import annotations

from typing import Any

from .options import IMPORTANCE, LABELS, SEVERITIES


def text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def strict_object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def bounded_list(items: dict[str, Any], max_items: int, min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}


def task_description_schema() -> dict[str, Any]:
    return strict_object({"task_description": text(300)})


def criteria_schema(max_primary: int, max_fine_grained: int) -> dict[str, Any]:
    fine = strict_object(
        {
            "name": text(40),
            "description": text(160),
            "importance": {"type": "string", "enum": list(IMPORTANCE)},
        }
    )
    primary = strict_object(
        {"name": text(40), "fine_grained": bounded_list(fine, max_fine_grained, 1)}
    )
    return strict_object({"primary": bounded_list(primary, max_primary, 1)})


def reference_schema() -> dict[str, Any]:
    return strict_object({"reference": text(1200)})


def critique_schema(tags: list[str], criteria: list[str], max_units: int) -> dict[str, Any]:
    unit = strict_object(
        {
            "tags": bounded_list({"type": "string", "enum": tags}, 3, 1),
            "criterion": {"type": "string", "enum": criteria},
            "description": text(240),
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "suggestion": text(240),
        }
    )
    return strict_object({"units": bounded_list(unit, max_units)})


def meta_label_schema() -> dict[str, Any]:
    return strict_object({"label": {"type": "string", "enum": list(LABELS)}, "reason": text(160)})


def aggregate_schema(
    primary: list[str], repairable: int, criteria: list[str], score_range: range
) -> dict[str, Any]:
    summary = strict_object(
        {"criterion": {"type": "string", "enum": primary}, "summary": text(240)}
    )
    properties: dict[str, Any] = {}
    if repairable:
        repaired = strict_object(
            {
                "unit": {"type": "integer", "enum": list(range(1, repairable + 1))},
                "criterion": {"type": "string", "enum": criteria},
                "severity": {"type": "string", "enum": list(SEVERITIES)},
                "suggestion": text(240),
            }
        )
        properties["repaired"] = bounded_list(repaired, repairable)
    properties["summaries"] = bounded_list(summary, len(primary), 1)
    properties["score"] = {"type": "integer", "enum": list(score_range)}
    return strict_object(properties)


def revision_schema() -> dict[str, Any]:
    return strict_object({"revised_response": text(1500)})


def score_schema(score_range: range) -> dict[str, Any]:
    return strict_object({"score": {"type": "integer", "enum": list(score_range)}})
