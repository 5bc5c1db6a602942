"""Bounded JSON schemas for structured model answers.

Small models fall into loops that run until a string's ``maxLength``; a schema with enums
for labels and scores, ``maxLength`` on every text and ``maxItems`` on every list keeps a
grammar-constrained answer short enough to close its JSON within ``max_tokens``.
``text_budget`` turns a step's token budget into character limits at a rate that holds even
for digit-heavy text (about one token per 1.5 characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHARS_PER_TOKEN = 1.5
MIN_TEXT_CHARS = 16


def text_budget(max_tokens: int, overhead_tokens: int, texts: int) -> int:
    """Characters each of ``texts`` strings may use within ``max_tokens``."""
    per_text = max(0, max_tokens - overhead_tokens) / max(1, texts)
    return max(MIN_TEXT_CHARS, int(per_text * CHARS_PER_TOKEN))


def text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def choice(values: Sequence[Any]) -> dict[str, Any]:
    """One of ``values`` (strings or integers)."""
    kind = "integer" if all(isinstance(v, int) for v in values) else "string"
    return {"type": kind, "enum": list(values)}


def strict_object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def bounded_list(items: dict[str, Any], max_items: int, min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}
