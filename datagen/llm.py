"""The contract between generators and model backends.

Generators build ``ChatRequest`` values and hand whole lists of them to a ``Model``; the
engine (``datagen.engine``) batches, overlaps, caches, validates structured output and
retries. Generators never talk to a backend directly, so the same generator runs on the
embedded model, vLLM or any OpenAI-compatible server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make. Every field is part of the cache key."""

    messages: tuple[Message, ...]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None  # None: the backend's own default
    seed: int = 0
    sample_index: int = 0
    json_schema: Mapping[str, Any] | None = None
    stop: tuple[str, ...] = ()
    step: str = ""  # which generator step asked, for progress and failure rows

    @classmethod
    def chat(
        cls, user: str, *, system: str | None = None, **params: Any
    ) -> ChatRequest:
        messages = (Message("system", system),) if system else ()
        return cls(messages=messages + (Message("user", user),), **params)


@dataclass
class Completion:
    """The engine's answer to one request.

    ``error`` is set when every attempt failed (server error, invalid structured output);
    ``text`` then holds the last raw output so the failure row can show it.
    """

    text: str
    data: Any = None  # the parsed JSON value when a json_schema was asked for and validated
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    cached: bool = False
    attempts: int = 1
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Model(Protocol):
    """A model a generator can call, as resolved from a model spec."""

    @property
    def spec(self) -> str:
        """What the user wrote, e.g. "embedded" or "openai:m@http://127.0.0.1:8000/v1"."""
        ...

    @property
    def identity(self) -> str:
        """A stable identity: weights digest or server model id."""
        ...

    def complete(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Answer every request, in order. Never raises for a single bad answer."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length embedding vectors, one per text, in order (cached by the engine).

        Raises ``BackendError`` on a backend that cannot embed.
        """
        ...


@dataclass
class UsageCounters:
    """Counters a build reports and stores with its row in ``builds``."""

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: int = 0
    retries: int = 0
    model_seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def tally(self, name: str, amount: float = 1) -> None:
        """Add ``amount`` to the named counter in ``extra`` (created at zero)."""
        self.extra[name] = self.extra.get(name, 0) + amount
