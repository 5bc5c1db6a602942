"""Bounded JSON schemas for the structured answers of annotators and simulated users."""

from __future__ import annotations

from typing import Any

from datagen.shapes import choice, strict_object, text, text_budget

from .logic import VERDICTS


def verdict_schema() -> dict[str, Any]:
    return strict_object({"preferred": choice([1, 2])})


def reasoned_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object(
        {"reason": text(text_budget(max_tokens, 16, 1)), "preferred": choice([1, 2])}
    )


def reply_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object({"reply": text(text_budget(max_tokens, 8, 1))})


def feedback_schema(max_tokens: int) -> dict[str, Any]:
    return strict_object(
        {"verdict": choice(list(VERDICTS)), "reply": text(text_budget(max_tokens, 16, 1))}
    )
