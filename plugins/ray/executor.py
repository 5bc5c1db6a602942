"""The Ray executor: batch stages on a pool of Ray actors, whole stages and the commit here.

- ``--executor ray`` starts a local Ray (workers are separate processes on this machine);
  ``--executor ray://HOST:PORT`` joins a running cluster through Ray Client.
- ``--overlap N`` actors each hold one engine built from the model specs of the build's roles
  (``ctx.specs``): a vLLM engine per actor on a GPU cluster, a client per actor for ``openai:``
  specs. Batches are handed out in order and outputs come back in batch order, so the rows,
  step tables and failures are those of a local build with the same seed and models.
- An actor that dies mid-batch is restarted by Ray and the batch is retried
  (``max_restarts``/``max_task_retries``); calls it had completed are in the call cache.
- The call cache is each worker's ``DATAGEN_HOME``: on one machine (a local Ray) every actor
  shares the build's SQLite cache, so a retried batch repeats no finished call. On a cluster,
  point ``DATAGEN_HOME`` at a shared filesystem for the same guarantee; otherwise each node
  keeps its own cache and a batch retried on another node asks its calls again.
- Each actor returns its usage with every output; the driver adds it to the build's counters.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from datagen.errors import MissingExtra, UsageError
from datagen.executor import Executor, ExecutorSettings
from datagen.llm import UsageCounters

if TYPE_CHECKING:
    import polars as pl

    from datagen.generator import BatchOutput, GeneratorContext, Stage

RETRIES = 3


class RayExecutor(Executor):
    name: ClassVar[str] = "ray"
    description: ClassVar[str] = "Ray actors, one engine each (ray: local, ray://HOST:PORT)"

    def __init__(self, settings: ExecutorSettings | None = None):
        super().__init__(settings)
        try:
            import ray
        except ImportError:
            raise MissingExtra("ray", "--executor ray") from None
        self.ray = ray
        self.workers = max(1, self.settings.overlap)
        self._actors: list[Any] = []
        self._started_ray = False

    def _connect(self) -> None:
        if self.ray.is_initialized():
            return
        target = self.settings.target
        if target and not target.startswith("//"):
            raise UsageError(f"--executor ray:{target}: write ray://HOST:PORT")
        if target:
            self.ray.init(address=f"ray:{target}", log_to_driver=False)
        else:
            self.ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False,
                          runtime_env={"env_vars": _worker_env()})
        self._started_ray = True

    def _pool(self, specs: Mapping[str, tuple[str, ...]]) -> list[Any]:
        if not self._actors:
            self._connect()
            worker = self.ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=RETRIES)(
                BatchWorker
            )
            home = str(self.settings.home) if self.settings.home else None
            self._actors = [worker.remote(dict(specs), home, self.settings.use_cache)
                            for _ in range(self.workers)]
        return self._actors

    def map_batches(
        self, stage: Stage, batches: Iterable[pl.DataFrame], ctx: GeneratorContext
    ) -> Iterator[BatchOutput]:
        from ray.util import ActorPool

        pool = ActorPool(self._pool(ctx.specs))
        tables = dict(ctx.tables)
        build = {"dataset": ctx.dataset}
        results = pool.map(lambda actor, batch: actor.run.remote(stage, batch, tables, build),
                           list(batches))
        for output, usage in results:
            _add(self.settings.counters, usage)
            yield output

    def close(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors = []
        if self._started_ray:
            self.ray.shutdown()
            self._started_ray = False


class BatchWorker:
    """One Ray actor: an engine for the build's model specs, reused for every batch."""

    def __init__(self, specs: dict[str, tuple[str, ...]], home: str | None, use_cache: bool):
        self.specs = specs
        self.home = home
        self.use_cache = use_cache
        self._engine: Any = None
        self._models: dict[str, list[Any]] = {}

    def _context(self, tables: Mapping[str, Any], dataset: str) -> GeneratorContext:
        from datagen.engine import Engine
        from datagen.generator import GeneratorContext
        from datagen.home import datagen_home

        if self._engine is None:
            distinct = list(dict.fromkeys(s for specs in self.specs.values() for s in specs))
            home = Path(self.home) if self.home else datagen_home()
            self._engine = Engine(distinct, home=home, use_cache=self.use_cache)
            by_spec = dict(zip(distinct, self._engine.models, strict=True))
            self._models = {role: [by_spec[s] for s in specs]
                            for role, specs in self.specs.items()}
        return GeneratorContext(models=self._models, specs=self.specs, tables=tables,
                                dataset=dataset, home=self._engine.home,
                                use_cache=self.use_cache)

    def run(
        self, stage: Stage, batch: pl.DataFrame, tables: Mapping[str, Any], build: dict[str, str]
    ) -> tuple[Any, Any]:
        ctx = self._context(tables, build["dataset"])
        before = _snapshot(self._engine.counters)
        output = stage.run(batch, ctx)
        return output, _difference(self._engine.counters, before)


def _worker_env() -> dict[str, str]:
    """Environment a local Ray's workers need to import datagen and find its home."""
    keep = ("DATAGEN_HOME", "DATAGEN_PLUGINS", "PYTHONPATH", "OPENAI_API_KEY",
            "DATAGEN_OPENAI_API_KEY")
    return {key: os.environ[key] for key in keep if key in os.environ}


def _snapshot(counters: UsageCounters) -> UsageCounters:
    return UsageCounters(**{**vars(counters), "extra": dict(counters.extra)})


def _difference(after: UsageCounters, before: UsageCounters) -> UsageCounters:
    delta = UsageCounters()
    for field in ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "failures",
                  "retries", "model_seconds"):
        setattr(delta, field, getattr(after, field) - getattr(before, field))
    delta.extra = {k: v - before.extra.get(k, 0) for k, v in after.extra.items()}
    return delta


def _add(total: UsageCounters, delta: UsageCounters) -> None:
    for field in ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "failures",
                  "retries", "model_seconds"):
        setattr(total, field, getattr(total, field) + getattr(delta, field))
    for key, value in delta.extra.items():
        total.tally(key, value)
