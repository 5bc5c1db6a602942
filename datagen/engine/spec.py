"""Model specs: the short strings users write to name a model.

Syntax: ``KIND[:TARGET][?key=value&key=value]``

- ``embedded``: the bundled SmolLM2-135M-Instruct GGUF, run by llama.cpp in-process
- ``gguf:PATH``: any GGUF file, run the same way
- ``openai:MODEL@http://host:port/v1``: any OpenAI-compatible server (vLLM, llama.cpp,
  SGLang, hosted APIs); ``openai:http://host:port/v1`` asks the server for its model
- ``vllm:PATH_OR_ID``: vLLM in-process (a Hugging Face model folder or id)

Parameters after ``?`` tune a backend (``instances``, ``concurrency``, ``timeout``, ...);
``datagen backends`` lists them. Keys are never part of a spec: they come from the
environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from datagen.errors import UsageError


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec. ``text`` is what the user wrote (normalised)."""

    kind: str
    target: str = ""
    params: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    text: str = ""

    def param(self, key: str, default: str | None = None) -> str | None:
        return self.params.get(key, default)

    def int_param(self, key: str, default: int) -> int:
        return _number(self, key, default, int)

    def float_param(self, key: str, default: float) -> float:
        return _number(self, key, default, float)


def parse_model_spec(text: str) -> ModelSpec:
    """Split ``KIND[:TARGET][?k=v&...]`` into its parts; the backend checks the target."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty model spec; e.g. 'embedded' or 'openai:MODEL@http://host:port/v1'")
    head, _, query = raw.partition("?")
    kind, _, target = head.partition(":")
    kind = kind.strip().lower()
    if not kind.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"model spec {text!r}: bad backend kind {kind!r}")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise UsageError(
            f"model spec {text!r}: parameters must look like ?key=value&key=value"
        ) from None
    return ModelSpec(kind=kind, target=target.strip(), params=params, text=raw)


def _number(spec: ModelSpec, key: str, default, kind):
    value = spec.params.get(key)
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise UsageError(
            f"model spec {spec.text!r}: parameter {key}={value!r} must be"
            f" {'an integer' if kind is int else 'a number'}"
        ) from None
    if number < 0:
        raise UsageError(f"model spec {spec.text!r}: parameter {key}={value!r} must be >= 0")
    return number
