"""Building one step's request the same way for every step of the method."""

from __future__ import annotations

from typing import Any

from datagen.llm import ChatRequest

from .options import MultiCritiqueOptions


def step_request(
    options: MultiCritiqueOptions, step: str, user: str, schema: dict, *, role: str,
    **params: Any,
) -> ChatRequest:
    """A structured request for ``step`` at the role's temperature and the build's seed."""
    params.setdefault("temperature", options.temperature(role))
    params.setdefault("top_p", options.top_p_of(role))
    params.setdefault("top_k", options.top_k_of(role))
    params.setdefault("seed", options.seed)
    params.setdefault("max_tokens", getattr(options.max_tokens, step))
    return ChatRequest.chat(user, step=step, json_schema=schema, **params)
