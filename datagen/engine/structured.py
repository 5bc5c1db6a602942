"""Structured output: judge a raw answer against the JSON schema a generator asked for.

Backends constrain decoding as well as they can (each in its own request form), but
grammars miss constraints (llama.cpp ignores minimum/maximum, lets raw newlines into
strings), so every answer is parsed and validated here; only valid ones are accepted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from datagen.llm import ChatRequest

RETRY_TEMPERATURE = 0.7


def attempt_seed(seed: int, sample_index: int, attempt: int) -> int:
    """The seed of one attempt: the request's own seed first, then derived ones.

    Mixing in the sample index keeps samples of one prompt apart even when a generator
    gives them the same seed; retries get fresh seeds that are still deterministic.
    """
    if sample_index == 0 and attempt == 0:
        return seed
    blob = f"{seed}/{sample_index}/{attempt}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") & 0x7FFFFFFF


def attempt_request(request: ChatRequest, attempt: int) -> ChatRequest:
    """The request of a retry: greedy decoding would repeat the same answer, so sample."""
    if attempt == 0 or request.temperature >= RETRY_TEMPERATURE:
        return request
    return replace(request, temperature=RETRY_TEMPERATURE)


def parse_and_validate(text: str, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Return ``(value, None)`` for a valid answer, or ``(None, reason)``."""
    try:
        value = _parse_json(text)
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"
    errors = sorted(_validator(_freeze(schema)).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(root)"
        return None, f"schema violation at {where}: {first.message[:200]}"
    return value, None


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    try:
        return json.loads(stripped, strict=False)  # raw newlines in strings are harmless
    except json.JSONDecodeError as exc:
        start, end = stripped.find("{"), stripped.rfind("}")
        if 0 <= start < end and (start, end) != (0, len(stripped) - 1):
            try:
                return json.loads(stripped[start : end + 1], strict=False)
            except json.JSONDecodeError:
                pass
        raise ValueError(f"{exc.msg} at char {exc.pos}") from None


def _freeze(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True)


@lru_cache(maxsize=64)
def _validator(frozen: str):
    from jsonschema import validators

    schema = json.loads(frozen)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)
