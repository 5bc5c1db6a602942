"""Continuous batching: worker threads, one per llama.cpp context, sharing one job queue.

Each worker admits queued jobs into its free slots before every decode step, so a
sequence that ends makes room for the next request at once, and calls from several
``answer`` calls (several steps of a pipeline) share the same batches. ctypes releases the
GIL while llama.cpp decodes, so the workers run in parallel on separate cores.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from datagen.engine.backend import RawAnswer
from datagen.engine.backends.llama_batch import BatchDecoder
from datagen.engine.backends.llama_sequence import Job


class DecoderPool:
    """``instances`` workers; each opens its decoder when it starts."""

    def __init__(self, open_decoder: Callable[[], BatchDecoder], instances: int):
        self._open_decoder = open_decoder
        self._queue: deque[Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._opening = instances  # workers still able to decode (or opening their context)
        self._workers = [threading.Thread(target=self._work, daemon=True, name=f"llama-{i}")
                         for i in range(instances)]
        for worker in self._workers:
            worker.start()

    def submit(self, jobs: Iterable[Job]) -> None:
        with self._ready:
            if not self._closed:
                self._queue.extend(jobs)
                self._ready.notify_all()
                return
        for job in jobs:
            job.finish(RawAnswer(error="the model was closed", finish_reason="error"))

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for worker in self._workers:
            worker.join()
        for job in self._queue:
            job.finish(RawAnswer(error="the model was closed", finish_reason="error"))
        self._queue.clear()

    def _take(self, most: int, wait: bool) -> list[Job] | None:
        """Up to ``most`` queued jobs; waits for one when ``wait``; None once closed.

        A worker takes at most its share of the queue, so a short queue is split between
        the workers instead of filling one context while the other cores wait.
        """
        with self._ready:
            while wait and not self._queue and not self._closed:
                self._ready.wait()
            if self._closed:
                return None
            share = -(-len(self._queue) // max(self._opening, 1))
            return [self._queue.popleft() for _ in range(min(most, share))]

    def _work(self) -> None:
        try:
            decoder = self._open_decoder()
        except Exception as exc:
            if self._last_to_fail():
                self._refuse_all(str(exc))
            return
        try:
            self._decode_until_closed(decoder)
        finally:
            decoder.close()

    def _last_to_fail(self) -> bool:
        """Count out a worker whose context did not open; True when no worker is left, so
        the jobs get the error instead of waiting (while one decodes, it takes them all)."""
        with self._ready:
            self._opening -= 1
            self._ready.notify_all()
            return self._opening == 0

    def _decode_until_closed(self, decoder: BatchDecoder) -> None:
        while True:
            jobs = self._take(decoder.free_slots, wait=not decoder.busy)
            if jobs is None:
                return
            for job in jobs:
                try:
                    decoder.admit(job)
                except Exception as exc:  # raised before the job was placed
                    job.finish(RawAnswer(error=f"llama.cpp could not start the request:"
                                               f" {type(exc).__name__}: {exc}",
                                         finish_reason="error"))
            if decoder.busy:
                try:
                    decoder.step()
                except Exception as exc:  # keep serving: only the batch in flight fails
                    decoder.fail_all(f"{type(exc).__name__}: {exc}")

    def _refuse_all(self, error: str) -> None:
        """A worker without a model answers every job it takes with the load error."""
        while True:
            jobs = self._take(1, wait=True)
            if jobs is None:
                return
            for job in jobs:
                job.finish(RawAnswer(error=error, finish_reason="error"))


class Countdown:
    """Waits until ``count`` answers have been delivered."""

    def __init__(self, count: int):
        self._left = count
        self._done = threading.Condition()
        self.errors: list[BaseException] = []

    def deliver(self, send: Callable[[], Any]) -> None:
        try:
            send()
        except BaseException as exc:  # re-raised by the caller of ``wait``
            self.errors.append(exc)
        finally:
            with self._done:
                self._left -= 1
                self._done.notify_all()

    def wait(self) -> None:
        with self._done:
            while self._left > 0:
                self._done.wait()
        if self.errors:
            raise self.errors[0]
