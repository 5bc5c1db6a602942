"""The executor seam: where a stage's batches run.

The build hands an executor one batch stage and its batches; the executor hands back one
``BatchOutput`` per batch, in batch order, so what is written never depends on which batch
finished first. The in-process executor (the default) runs a window of batches side by
side, so a server backend keeps its window of requests full across step boundaries and the
embedded model is never idle while one batch waits for its slowest call.

A distributed executor replaces this class: it receives the same stage and context (whose
``specs`` are all a worker needs to build its own engine) and returns the same outputs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import polars as pl

    from datagen.generator import BatchOutput, Failure, GeneratorContext, Stage

DEFAULT_OVERLAP = 4


class Sink(Protocol):
    """Where a build's outputs go: the open version of the catalog."""

    def write_rows(self, data: Any) -> None: ...

    def write_step(self, step: str, data: Any) -> None: ...

    def write_failures(self, failures: list[Failure]) -> None: ...


class Executor(Protocol):
    """Runs a batch stage over batches; yields one output per batch, in order."""

    def map_batches(
        self, stage: Stage, batches: Iterable[pl.DataFrame], ctx: GeneratorContext
    ) -> Iterator[BatchOutput]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Batches in threads of this process, ``overlap`` of them in flight at once."""

    def __init__(self, overlap: int = DEFAULT_OVERLAP):
        self.overlap = max(1, overlap)
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


def make_executor(name: str | None, overlap: int = DEFAULT_OVERLAP) -> Executor:
    """The executor named on the command line; ``local`` (the default) is in-process."""
    from datagen.errors import NotFound

    if name in (None, "", "local"):
        return LocalExecutor(overlap)
    raise NotFound("executor", name, ["local"])
