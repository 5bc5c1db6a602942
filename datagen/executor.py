"""The executor seam: where a stage's batches run.

The build hands an executor one batch stage and its batches; the executor hands back one
``BatchOutput`` per batch, in batch order, so what is written never depends on which batch
finished first. The in-process executor (the default) runs a window of batches side by
side, so a server backend keeps its window of requests full across step boundaries and the
embedded model is never idle while one batch waits for its slowest call.

A distributed executor (a plugin, e.g. ``--executor ray``) replaces this class: it receives
the same stage and context (whose ``specs`` are all a worker needs to build its own engine)
and returns the same outputs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from datagen.llm import UsageCounters

if TYPE_CHECKING:
    import polars as pl

    from datagen.generator import BatchOutput, Failure, GeneratorContext, Stage

DEFAULT_OVERLAP = 4


class Sink(Protocol):
    """Where a build's outputs go: the open version of the catalog."""

    def write_rows(self, data: Any) -> None: ...

    def write_step(self, step: str, data: Any) -> None: ...

    def write_failures(self, failures: list[Failure]) -> None: ...


@dataclass(frozen=True)
class ExecutorSettings:
    """What every executor is built with.

    ``target`` is what follows the executor's name on the command line (``ray://HOST:PORT``
    gives ``//HOST:PORT``); ``home`` and ``use_cache`` say where workers find the call cache;
    ``counters`` are the build's, to which remote workers' usage is added.
    """

    target: str = ""
    overlap: int = DEFAULT_OVERLAP
    home: Path | None = None
    use_cache: bool = True
    counters: UsageCounters = field(default_factory=UsageCounters)


class Executor:
    """Runs a batch stage over batches; yields one output per batch, in batch order.

    Plugins register subclasses through ``datagen_register_executors``; ``name`` is what
    users write in ``--executor NAME[:TARGET]``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, settings: ExecutorSettings | None = None):
        self.settings = settings or ExecutorSettings()

    def map_batches(
        self, stage: Stage, batches: Iterable[pl.DataFrame], ctx: GeneratorContext
    ) -> Iterator[BatchOutput]:
        raise NotImplementedError

    def close(self) -> None:
        """Free threads, workers and connections."""


class LocalExecutor(Executor):
    """Batches in threads of this process, ``overlap`` of them in flight at once."""

    name: ClassVar[str] = "local"
    description: ClassVar[str] = "in this process: a window of batches side by side (default)"

    def __init__(self, settings: ExecutorSettings | None = None):
        super().__init__(settings)
        self.overlap = max(1, self.settings.overlap)
        self._pool = ThreadPoolExecutor(max_workers=self.overlap, thread_name_prefix="batch")

    def map_batches(
        self, stage: Stage, batches: Iterable[pl.DataFrame], ctx: GeneratorContext
    ) -> Iterator[BatchOutput]:
        in_flight: deque[Future[BatchOutput]] = deque()
        try:
            for batch in batches:
                in_flight.append(self._pool.submit(stage.run, batch, ctx))
                if len(in_flight) >= self.overlap:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            for future in in_flight:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(choice: str | None, settings: ExecutorSettings) -> Executor:
    """The executor named on the command line (``NAME`` or ``NAME:TARGET``); default local."""
    from datagen.plugins import executors

    name, _, target = (choice or "local").partition(":")
    return executors().get(name.strip().lower())(replace(settings, target=target))
