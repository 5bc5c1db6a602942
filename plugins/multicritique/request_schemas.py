"""JSON schemas the models must answer in, one per structured step.

Built from ``datagen.shapes`` (bounded texts and lists, enums for labels, severities and
scores). Tags and criterion names are enums built per request, so a unit cannot cite a
sentence or a criterion that does not exist.
"""

from __future__ import annotations

from typing import Any

from datagen.shapes import (
    CHARS_PER_TOKEN,
    MIN_TEXT_CHARS,
    bounded_list,
    strict_object,
    text,
    text_budget,
)

from .options import IMPORTANCE, LABELS, SEVERITIES

NAME_CHARS = 80  # a criterion's name is a few words
TYPICAL_UNITS = 4  # text limits assume this many units, so each text gets a real share
ROOM_TO_CLOSE = 32  # whitespace a grammar allows between keys, and the closing brackets


def task_description_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object({"task_description": text(text_budget(max_tokens, 12, 1))})


def criteria_schema(max_primary: int, max_fine_grained: int, max_tokens: int) -> dict[str, Any]:
    fine_count = max_primary * max_fine_grained
    # keys, punctuation and a short name: ~28 tokens per fine-grained criterion, ~20 per
    # primary; the descriptions share the rest
    overhead = 8 + 20 * max_primary + 28 * fine_count
    fine = strict_object(
        {
            "name": text(NAME_CHARS),
            "description": text(text_budget(max_tokens, overhead, fine_count)),
            "importance": {"type": "string", "enum": list(IMPORTANCE)},
        }
    )
    primary = strict_object(
        {"name": text(NAME_CHARS), "fine_grained": bounded_list(fine, max_fine_grained, 1)}
    )
    return strict_object({"primary": bounded_list(primary, max_primary, 1)})


def reference_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object({"reference": text(text_budget(max_tokens, 10, 1))})


def critique_schema(
    tags: list[str], criteria: list[str], primary: list[str], max_units: int,
    score_range: range, max_tokens: int,
) -> dict[str, Any]:
    """An agent's whole critique: units, a summary per primary criterion and a score."""
    # per unit, keys, tags, criterion and severity take ~40 tokens; texts are sized for a
    # typical critique, so a long one may run out of tokens but never out of maxLength
    units = min(max_units, TYPICAL_UNITS)
    overhead = 16 + 40 * units + 12 * len(primary)
    chars = text_budget(max_tokens, overhead, 2 * units + len(primary))
    unit = strict_object(
        {
            "tags": bounded_list({"type": "string", "enum": tags}, 3, 1),
            "criterion": {"type": "string", "enum": criteria},
            "description": text(chars),
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "suggestion": text(chars),
        }
    )
    return strict_object(
        {
            "units": bounded_list(unit, max_units),
            "summaries": _summaries(primary, chars),
            "score": {"type": "integer", "enum": list(score_range)},
        }
    )


def _summaries(primary: list[str], chars: int) -> dict[str, Any]:
    summary = strict_object(
        {"criterion": {"type": "string", "enum": primary}, "summary": text(chars)}
    )
    return bounded_list(summary, len(primary), 1)


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
    """Summaries and score; every fixable unit must come back repaired, keyed by number."""
    typical = min(repairable, TYPICAL_UNITS)
    overhead = _aggregate_overhead(len(primary), typical)
    chars = text_budget(max_tokens, overhead, len(primary) + 2 * typical)
    properties: dict[str, Any] = {}
    if repairable:
        fixed = strict_object(
            {
                "criterion": {"type": "string", "enum": criteria},
                "severity": {"type": "string", "enum": list(SEVERITIES)},
                "description": text(chars),
                "suggestion": text(chars),
            }
        )
        properties["repaired"] = strict_object(
            {str(n): fixed for n in range(1, repairable + 1)}
        )
    properties["summaries"] = _summaries(primary, chars)
    properties["score"] = {"type": "integer", "enum": list(score_range)}
    return strict_object(properties)


def aggregate_tokens(primary: int, repairable: int, max_tokens: int) -> int:
    """The aggregation's token budget: ``max_tokens``, raised when the units to repair need
    more than that just to be written at their shortest (each repair is a whole unit)."""
    texts = primary + 2 * repairable
    shortest = _aggregate_overhead(primary, repairable) + texts * round(
        MIN_TEXT_CHARS / CHARS_PER_TOKEN
    )
    return max(max_tokens, shortest + ROOM_TO_CLOSE)


def _aggregate_overhead(primary: int, repairs: int) -> int:
    """Keys, enums and punctuation: ~14 tokens per summary, ~40 per repaired unit."""
    return 12 + 14 * primary + 40 * repairs


def revision_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object({"revised_response": text(text_budget(max_tokens, 12, 1))})


def score_schema(score_range: range) -> dict[str, Any]:
    return strict_object({"score": {"type": "integer", "enum": list(score_range)}})
