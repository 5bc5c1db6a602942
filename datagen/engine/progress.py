"""The progress display of a build: rows, model calls, tokens/s, cache hits, failures.

On a terminal it is one line rewritten in place; otherwise (CI logs) a line every
``interval`` seconds; in quiet mode nothing until asked for the summary.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from datagen.llm import UsageCounters


class Progress:
    """Thread-safe; the engine calls ``update`` after each call, the build runner the rest."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 interval: float | None = None, label: str = "build"):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.2 if self.tty else 10.0)
        self.label = label
        self.counters = UsageCounters()
        self.total_rows: int | None = None
        self.rows = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._lock = threading.Lock()

    def attach(self, counters: UsageCounters) -> None:
        """Show these counters (the engine's) instead of a private set."""
        self.counters = counters

    def start(self, total_rows: int | None = None) -> None:
        self.total_rows = total_rows
        self._started = time.monotonic()

    def rows_done(self, n: int) -> None:
        with self._lock:
            self.rows += n
        self.update(force=True)

    def update(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_draw < self.interval:
                return
            if force and not self.tty and now - self._last_draw < self.interval:
                return
            self._last_draw = now
            line = self.line()
            if self.tty:
                self.stream.write("\r\x1b[2K" + line)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()

    def line(self) -> str:
        c = self.counters
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rows = f"{self.rows}/{self.total_rows}" if self.total_rows else str(self.rows)
        return (
            f"{self.label}: rows {rows} | calls {c.calls}"
            f" | {c.completion_tokens / elapsed:.0f} tok/s"
            f" | cache hits {c.cache_hits} | failures {c.failures} | {elapsed:.1f}s"
        )

    def summary(self) -> dict[str, float]:
        c = self.counters
        elapsed = time.monotonic() - self._started
        return {
            "rows": self.rows,
            "calls": c.calls,
            "cache_hits": c.cache_hits,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "failures": c.failures,
            "retries": c.retries,
            "seconds": round(elapsed, 3),
            "tokens_per_second": round(c.completion_tokens / elapsed, 1) if elapsed else 0.0,
        }

    def finish(self) -> dict[str, float]:
        """Print the final summary line (unless quiet) and return the numbers."""
        numbers = self.summary()
        if not self.quiet:
            with self._lock:
                prefix = "\r\x1b[2K" if self.tty else ""
                self.stream.write(
                    f"{prefix}{self.label} done: {numbers['rows']} rows, {numbers['calls']} model"
                    f" calls, {numbers['cache_hits']} cache hits, {numbers['failures']} failures,"
                    f" {numbers['completion_tokens']} tokens at {numbers['tokens_per_second']}"
                    f" tok/s in {numbers['seconds']}s\n"
                )
                self.stream.flush()
        return numbers
