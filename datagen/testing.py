"""A scripted model for plugin authors' orchestration tests: it answers by the request's step.

    from datagen.testing import ScriptedModel, scripted_context

    model = ScriptedModel(lambda request: {"label": "A"} if request.step == "vote" else None)
    out = MyGenerator(options).generate(batch, scripted_context(MyGenerator, model))
    assert model.requests("vote")[0].json_schema == ...

A script returns the answer's JSON value (a dict or list), a raw string (the model's text,
for testing invalid output), or ``None`` (the call failed, as when a server gives up). It
proves the generator's control flow (which requests go where, how answers are checked and
combined); the real embedded model is what end-to-end tests run.

``run_generator(generator, rows, models)`` runs every stage the way a build does (batches,
whole-dataset stages, schema checks of rows and step records) and returns what the build
would have written, in a ``MemorySink``.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datagen.generator import Failure, Generator, GeneratorContext
from datagen.llm import ChatRequest, Completion

Script = Callable[[ChatRequest], Any]


class ScriptedModel:
    """A ``datagen.llm.Model`` that answers from a script and remembers every request."""

    def __init__(self, script: Script, spec: str = "scripted", dimensions: int = 8):
        self.script = script
        self.spec = spec
        self.identity = spec
        self.dimensions = dimensions
        self.calls: list[list[ChatRequest]] = []
        self.embedded: list[str] = []
        self._lock = threading.Lock()

    def complete(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        with self._lock:
            self.calls.append(list(requests))
        return [self.answer(r) for r in requests]

    def answer(self, request: ChatRequest) -> Completion:
        data = self.script(request)
        if data is None:
            return Completion(text="", finish_reason="error", error="the scripted call failed")
        if isinstance(data, str):
            return Completion(text=data, model=self.spec)
        return Completion(text=json.dumps(data), data=data, model=self.spec)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit vectors from word hashes: texts sharing words are close, others are not."""
        with self._lock:
            self.embedded.extend(texts)
        return [bag_of_words_vector(text, self.dimensions) for text in texts]

    def requests(self, step: str | None = None) -> list[ChatRequest]:
        """Every request this model got (for ``step`` only, if given), in order."""
        return [r for call in self.calls for r in call if step is None or r.step == step]


def bag_of_words_vector(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,!?;:").encode()).digest()
        vector[digest[0] % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def scripted_context(
    generator: type[Generator] | Generator,
    models: ScriptedModel | Mapping[str, ScriptedModel | Sequence[ScriptedModel]],
    *,
    home: Path | None = None,
) -> GeneratorContext:
    """A context where ``models`` plays every role (one model) or the roles it names;
    ``home`` is the datagen home the build writes under (None: the default home)."""
    roles = generator.model_roles() if isinstance(generator, Generator) else generator.roles
    by_role: dict[str, list[Any]] = {}
    for role in roles:
        given = models if isinstance(models, ScriptedModel) else models.get(role.name)
        if given is None:
            raise KeyError(f"no scripted model for role {role.name!r}")
        by_role[role.name] = [given] if isinstance(given, ScriptedModel) else list(given)
    specs = {role: tuple(m.spec for m in ms) for role, ms in by_role.items()}
    return GeneratorContext(models=by_role, specs=specs, home=home)


class MemorySink:
    """What a build writes, kept in lists: rows, step records by step, failure rows."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.steps: dict[str, list[dict[str, Any]]] = {}
        self.failures: list[Failure] = []

    def write_rows(self, data: Any) -> None:
        self.rows.extend(data.to_pylist())

    def write_step(self, step: str, data: Any) -> None:
        self.steps.setdefault(step, []).extend(data.to_pylist())

    def write_failures(self, failures: list[Failure]) -> None:
        self.failures.extend(failures)


class _NoProgress:
    def rows_done(self, n: int) -> None:
        pass


def run_generator(
    generator: Generator,
    rows: Sequence[Mapping[str, Any]] | Any,
    models: ScriptedModel | Mapping[str, ScriptedModel | Sequence[ScriptedModel]],
    *,
    overlap: int = 1,
) -> MemorySink:
    """Every stage of ``generator`` over ``rows`` (records or a polars frame), as a build
    runs them, with scripted models; returns what the build would have written."""
    import polars as pl

    from datagen.build import run_stages
    from datagen.executor import ExecutorSettings, LocalExecutor
    from datagen.inputs import Input

    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(list(rows))
    sink = MemorySink()
    run_stages(generator, Input(frame.to_arrow(), {"kind": "test"}), None,
               scripted_context(generator, models),
               LocalExecutor(ExecutorSettings(overlap=overlap)), sink, _NoProgress())
    return sink
