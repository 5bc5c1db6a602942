"""The engine: model specs in, ``Model`` objects out, with cache, validation and retries.

    with Engine(["embedded", "openai:m@http://127.0.0.1:8000/v1"], home=home) as engine:
        completions = engine.models[0].complete(requests)

Each model's ``complete`` hands all its requests to the backend at once (the backend
decides how many run concurrently), looks every attempt up in the call cache first,
stores each answer the moment it arrives, and re-asks with a new deterministic seed
when a structured answer does not validate.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datagen.engine.backend import Backend, Call, RawAnswer
from datagen.engine.cache import CallCache, cache_path, call_key
from datagen.engine.progress import Progress
from datagen.engine.spec import ModelSpec, parse_model_spec
from datagen.engine.structured import attempt_request, attempt_seed, parse_and_validate
from datagen.errors import NotFound
from datagen.llm import ChatRequest, Completion, UsageCounters

DEFAULT_ATTEMPTS = 3


class Engine:
    """Resolves model specs to models that share backends, a cache and counters."""

    def __init__(
        self,
        specs: Sequence[str],
        *,
        home: Path,
        use_cache: bool = True,
        progress: Progress | None = None,
        max_attempts: int = DEFAULT_ATTEMPTS,
        backend_classes: Mapping[str, type[Backend]] | None = None,
    ):
        self.home = Path(home)
        self.use_cache = use_cache
        self.progress = progress
        self.counters = UsageCounters()
        self.cache = CallCache(cache_path(self.home))
        self._lock = threading.Lock()
        self._backends: dict[str, Backend] = {}
        if progress is not None:
            progress.attach(self.counters)
        try:
            self.models = [self._model(text, max_attempts, backend_classes) for text in specs]
        except BaseException:
            self.close()
            raise

    def _model(self, text: str, max_attempts: int,
               classes: Mapping[str, type[Backend]] | None) -> EngineModel:
        spec = parse_model_spec(text)
        backend = self._backends.get(spec.text)
        if backend is None:
            backend = backend_class(spec.kind, classes)(spec, home=self.home)
            backend.on_retry = self._count_retry
            self._backends[spec.text] = backend
        attempts = spec.int_param("attempts", max_attempts) or 1
        return EngineModel(spec, backend, self, attempts)

    def describe(self) -> list[dict[str, Any]]:
        """Per spec: what lineage and dataset cards record about the model."""
        return [{"spec": m.spec, **m.backend.describe()} for m in self.models]

    def _count_retry(self) -> None:
        with self._lock:
            self.counters.retries += 1
            self.counters.tally("transport_retries")

    def record(self, answer: RawAnswer, *, cached: bool, failed: bool) -> None:
        with self._lock:
            c = self.counters
            if cached:
                c.cache_hits += 1
            else:
                c.calls += 1
                c.prompt_tokens += answer.prompt_tokens
                if answer.reused_prompt_tokens:
                    c.tally("prompt_tokens_reused", answer.reused_prompt_tokens)
                c.completion_tokens += answer.completion_tokens
                c.model_seconds += answer.seconds
            if failed:
                c.failures += 1
        if self.progress is not None:
            self.progress.update()

    def count_embeddings(self, *, calls: int, hits: int) -> None:
        with self._lock:
            self.counters.tally("embedding_calls", calls)
            self.counters.tally("embedding_cache_hits", hits)

    def count_structured_retry(self) -> None:
        with self._lock:
            self.counters.retries += 1

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._backends.clear()
        self.cache.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def backend_class(kind: str, classes: Mapping[str, type[Backend]] | None = None) -> type[Backend]:
    """The backend class for a spec kind, from ``classes`` or the plugin registry."""
    if classes and kind in classes:
        return classes[kind]
    from datagen.plugins import backends

    registry = backends()
    if kind not in registry.items:
        raise NotFound("backend", kind, list(registry.items) + list(classes or ()))
    return registry.get(kind)


class EngineModel:
    """A ``datagen.llm.Model``: one spec, bound to its (possibly shared) backend."""

    def __init__(self, spec: ModelSpec, backend: Backend, engine: Engine, max_attempts: int):
        self.spec = spec.text
        self.backend = backend
        self.engine = engine
        self.max_attempts = max_attempts

    @property
    def identity(self) -> str:
        return self.backend.identity

    @property
    def name(self) -> str:
        return self.backend.model_name

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length embedding vectors, cached like completions; see engine.embeddings."""
        from datagen.engine.embeddings import embed_cached

        return embed_cached(self, texts)

    def complete(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """Answer every request, in order; a bad answer sets ``error``, never raises."""
        results: list[Completion | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        for attempt in range(self.max_attempts):
            if not pending:
                break
            pending = self._attempt(requests, pending, attempt, results)
        return [r if r is not None else _lost() for r in results]

    def _attempt(self, requests: Sequence[ChatRequest], indices: list[int], attempt: int,
                 results: list[Completion | None]) -> list[int]:
        """Run one attempt for ``indices``; return those that need another."""
        kind, identity = self.backend.kind, self.identity
        calls = [
            Call(attempt_request(requests[i], attempt),
                 attempt_seed(requests[i].seed, requests[i].sample_index, attempt), attempt)
            for i in indices
        ]
        keys = [call_key(kind, identity, call) for call in calls]
        cached = self.engine.cache.get_many(keys) if self.engine.use_cache else {}
        again: list[int] = []
        lock = threading.Lock()

        def settle(position: int, answer: RawAnswer, from_cache: bool) -> None:
            index = indices[position]
            if not from_cache and answer.error is None:
                self.engine.cache.put(keys[position], kind, identity, answer)
            completion, retry = self._judge(requests[index], answer, attempt, from_cache)
            with lock:
                if retry:
                    again.append(index)
                else:
                    results[index] = completion
            self.engine.record(answer, cached=from_cache, failed=completion.error is not None
                               and not retry)
            if retry:
                self.engine.count_structured_retry()

        missing = []
        for position, key in enumerate(keys):
            if key in cached:
                settle(position, cached[key], True)
            else:
                missing.append(position)
        if missing:
            self.backend.answer(
                [calls[p] for p in missing],
                lambda j, answer: settle(missing[j], answer, False),
            )
        return sorted(again)

    def _judge(self, request: ChatRequest, answer: RawAnswer, attempt: int,
               from_cache: bool) -> tuple[Completion, bool]:
        completion = Completion(
            text=answer.text,
            finish_reason=answer.finish_reason,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            model=self.name,
            cached=from_cache,
            attempts=attempt + 1,
            seconds=answer.seconds,
        )
        if answer.error is not None:
            completion.error = answer.error
            completion.finish_reason = "error"
            return completion, False
        if request.json_schema is None:
            return completion, False
        value, problem = parse_and_validate(answer.text, request.json_schema)
        if problem is None:
            completion.data = value
            return completion, False
        if answer.finish_reason == "length":
            problem = f"truncated at max_tokens={request.max_tokens}; {problem}"
        completion.error = problem
        return completion, attempt + 1 < self.max_attempts


def _lost() -> Completion:
    return Completion(text="", finish_reason="error", error="no answer was produced")
