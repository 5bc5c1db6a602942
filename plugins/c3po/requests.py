"""Requests and bounded answer schemas of every C3PO step."""

from __future__ import annotations

from typing import Any

from datagen.llm import ChatRequest, Message
from datagen.shapes import bounded_list, choice, strict_object, text

from .options import FeedbackPrefsOptions

DESCRIBE = strict_object({"domain": text(160), "effect": text(240)})
APPLIES = strict_object({"applies": choice(["yes", "no"])})
JUDGE = strict_object({"score": choice([1, 2, 3, 4, 5])})


def categories_schema(count: int) -> dict[str, Any]:
    return strict_object({"categories": bounded_list(text(80), count, min_items=1)})


def prompts_schema(count: int) -> dict[str, Any]:
    return strict_object({"prompts": bounded_list(text(600), count, min_items=1)})


def step_request(
    options: FeedbackPrefsOptions,
    step: str,
    content: str,
    schema: dict[str, Any] | None = None,
    sample_index: int = 0,
) -> ChatRequest:
    """A request of ``step`` with that step's budget and temperature."""
    return ChatRequest.chat(
        content,
        step=step,
        json_schema=schema,
        max_tokens=getattr(options.max_tokens, step),
        temperature=getattr(options.temperatures, step),
        seed=options.seed,
        sample_index=sample_index,
    )


def answer_request(
    prompt: str, *, step: str, max_tokens: int, temperature: float, seed: int,
    system: str | None = None, json_schema: dict[str, Any] | None = None,
) -> ChatRequest:
    """The prompt alone (or with a system message), as a user would send it."""
    messages = (Message("system", system),) if system else ()
    return ChatRequest(
        messages=messages + (Message("user", prompt),),
        step=step, max_tokens=max_tokens, temperature=temperature, seed=seed,
        json_schema=json_schema,
    )
