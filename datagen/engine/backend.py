"""The backend contract: what a model server or in-process runtime must provide.

A backend answers raw calls (a request plus the seed of one attempt). Everything that is
the same for every backend (the call cache, structured-output validation and retries,
counters, progress) lives in ``datagen.engine.engine`` so a new backend stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from datagen.engine.spec import ModelSpec
from datagen.errors import BackendError, UsageError
from datagen.llm import ChatRequest


@dataclass(frozen=True)
class Call:
    """One attempt at one request: the engine picks the seed, the backend uses it as is."""

    request: ChatRequest
    seed: int
    attempt: int = 0


@dataclass
class RawAnswer:
    """What a backend got for one call.

    ``error`` means no answer came back (server down, retries used up); such answers are
    never cached. An answer whose text is bad JSON is still an answer: the engine judges it.
    """

    text: str = ""
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    seconds: float = 0.0
    reused_prompt_tokens: int = 0  # of prompt_tokens, those a KV cache held (not read again)


DoneCallback = Callable[[int, RawAnswer], None]


class Backend:
    """Base class for model backends; plugins register subclasses.

    Subclasses set ``kind`` (the spec prefix), ``description``, ``example_spec`` and
    ``params`` (spec parameters they accept, with help), and implement ``answer``.
    One instance serves every model spec that names the same model, so it must be
    safe to call from one thread at a time per ``answer`` call.
    """

    kind: ClassVar[str]
    description: ClassVar[str] = ""
    example_spec: ClassVar[str] = ""
    params: ClassVar[dict[str, str]] = {}
    license: str = "unknown"

    def __init__(self, spec: ModelSpec, *, home: Path):
        unknown = sorted(set(spec.params) - set(self.params) - {"license", "attempts"})
        if unknown:
            allowed = ", ".join(sorted([*self.params, "license", "attempts"]))
            raise UsageError(
                f"model spec {spec.text!r}: unknown parameter {unknown[0]!r}; allowed: {allowed}"
            )
        self.spec = spec
        self.home = home
        self.license = spec.param("license") or self.license
        self.on_retry: Callable[[], None] = lambda: None
        self._identity: str | None = None

    @property
    def identity(self) -> str:
        """A stable name for the weights: a file digest or a server's model id."""
        if self._identity is None:
            self._identity = self.compute_identity()
        return self._identity

    def compute_identity(self) -> str:
        raise NotImplementedError

    @property
    def model_name(self) -> str:
        """The short model name written into rows."""
        return self.spec.target or self.kind

    def answer(self, calls: Sequence[Call], done: DoneCallback) -> None:
        """Answer every call, calling ``done(index, answer)`` as each one finishes.

        Returns when all are done. Calls may be answered in any order and from any
        thread; ``done`` must be called exactly once per index.
        """
        raise NotImplementedError

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One embedding vector per text, in order (backends that can embed override this)."""
        raise BackendError(
            f"model spec {self.spec.text!r}: the {self.kind!r} backend cannot embed texts;"
            " use an embedded, gguf:, openai: (a server with /v1/embeddings) or vllm: model"
        )

    def close(self) -> None:
        """Free models, threads and connections."""

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model_name,
            "identity": self.identity,
            "license": self.license,
        }
