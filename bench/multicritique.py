"""The default ``critique-sft`` build on the embedded model, with a raw llama.cpp baseline.

    python bench/multicritique.py             # the full default seed set (30 rows)
    python bench/multicritique.py --limit 5   # a quick look
    python bench/multicritique.py --limit 12 --against "embedded?instances=2&threads=1"

Measures, in one run and a fresh DATAGEN_HOME: the build's wall time, model calls,
generated tokens per second, and a second (cache-hit) build's time. The baseline is the
best plain llama-cpp-python configuration on 2 cores (two instances x one thread, the
same loop `bench/engine.py` uses), measured first in the same run, so the printed ratio
says how the build's generation compares with raw speed on this machine.
Target: the default build under 180 s on 2 cores. The build's CPU time is printed
too: on a machine shared with other jobs the wall time grows, the CPU time does not.
Every ``llama_decode`` of the build is timed as well: the seconds spent decoding, split
into prompt chunks (64 tokens or more, llama.cpp's fastest path per token) and shorter
calls (generation steps), and the floor that gives: every token the build decoded, at the
chunk rate.

--against SPEC compares the default embedded configuration with another one instead (the
previous default, two contexts of one thread, above): cold builds in fresh homes, the two
alternating over --rounds so a slow spell of the machine hits both; printed per build: wall
time and the prompt tokens decoded (those not read from the KV cache), then the median ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from datagen.engine.backends.llama_batch import TILE_ROWS as CHUNK_TOKENS


class DecodeClock:
    """Times every ``llama_decode`` call while installed: seconds and tokens, for calls of
    ``CHUNK_TOKENS`` or more and for shorter ones."""

    def __init__(self) -> None:
        self.seconds = {"chunks": 0.0, "short": 0.0}
        self.tokens = {"chunks": 0, "short": 0}
        self._lock = threading.Lock()

    def __enter__(self) -> DecodeClock:
        import llama_cpp

        self._real = llama_cpp.llama_decode

        def timed(ctx, batch):
            started = time.perf_counter()
            status = self._real(ctx, batch)
            kind = "chunks" if batch.n_tokens >= CHUNK_TOKENS else "short"
            with self._lock:
                self.seconds[kind] += time.perf_counter() - started
                self.tokens[kind] += batch.n_tokens
            return status

        llama_cpp.llama_decode = timed
        return self

    def __exit__(self, *exc_info: object) -> None:
        import llama_cpp

        llama_cpp.llama_decode = self._real

    def report(self, wall: float) -> str:
        rate = {kind: 1000 * self.seconds[kind] / max(self.tokens[kind], 1)
                for kind in self.seconds}
        total = sum(self.tokens.values())
        return (
            f"decoding: {sum(self.seconds.values()):.1f} s of {wall:.1f} s wall;"
            f" {self.tokens['chunks']} tokens in calls of {CHUNK_TOKENS}+ at"
            f" {rate['chunks']:.2f} ms/token, {self.tokens['short']} in shorter calls at"
            f" {rate['short']:.2f} ms/token; all {total} tokens at the chunk rate:"
            f" {total * rate['chunks'] / 1000:.0f} s"
        )


def raw_baseline(folder: Path, k: int = 16, max_tokens: int = 64) -> float:
    """Tokens per second of the plain two-instance llama.cpp loop, whole process: the
    better of the bundled file with llama-cpp-python's defaults and the tuned loop (flash
    attention, the Q8_0 copy datagen decodes)."""
    from engine import plain_two_instances, q8_0_copy, write_prompts

    from datagen.engine.backends.llamacpp import embedded_model_path

    prompts = write_prompts(folder, k)
    rates = []
    for model, flash in ((embedded_model_path(), False), (q8_0_copy(folder), True)):
        seconds, tokens = plain_two_instances(model, prompts, max_tokens, flash)
        rates.append(tokens / seconds)
    return max(rates)


def build(limit: int | None, home: Path, models: list[str] | None = None) -> tuple[float, dict]:
    from datagen.build import run_build

    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_build("critique-sft", limit=limit, home=home, models=models, quiet=True)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return seconds, {"rows": result.rows, "failures": result.failures, "cpu": cpu, **result.usage}


def compare(spec: str, limit: int | None, rounds: int, folder: Path) -> None:
    """Cold builds with the default and with ``spec``, alternating; the median ratio."""
    import statistics

    os.environ["DATAGEN_WEIGHTS"] = str(folder / "weights")  # converted once for all homes
    seconds: dict[str, list[float]] = {"embedded": [], spec: []}
    for round_ in range(rounds):
        for side in (["embedded", spec] if round_ % 2 == 0 else [spec, "embedded"]):
            home = folder / f"home-{round_}-{len(seconds[side])}-{side == spec}"
            home.mkdir()
            os.environ["DATAGEN_HOME"] = str(home)
            wall, usage = build(limit, home, models=[side])
            seconds[side].append(wall)
            decoded = usage["prompt_tokens"] - usage.get("extra", {}).get(
                "prompt_tokens_reused", 0)
            print(f"{side}: {wall:.1f} s, {usage['rows']} rows, {usage['failures']} failures,"
                  f" {decoded} prompt tokens decoded of {usage['prompt_tokens']}", flush=True)
    pairs = zip(seconds["embedded"], seconds[spec], strict=True)
    ratios = [other / default for default, other in pairs]
    print(f"default embedded vs {spec}: median {statistics.median(ratios):.2f}x faster"
          f" ({min(ratios):.2f}-{max(ratios):.2f}x over {rounds} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="rows of the seed set")
    parser.add_argument("--against", metavar="SPEC", help="compare the default with this spec")
    parser.add_argument("--rounds", type=int, default=2, help="with --against")
    args = parser.parse_args()
    if args.against:
        with tempfile.TemporaryDirectory() as folder:
            compare(args.against, args.limit, args.rounds, Path(folder))
        return
    with tempfile.TemporaryDirectory() as folder:
        raw = raw_baseline(Path(folder))
        home = Path(folder) / "home"
        home.mkdir()
        os.environ["DATAGEN_HOME"] = str(home)
        with DecodeClock() as clock:
            cold, usage = build(args.limit, home)
        warm, warm_usage = build(args.limit, home)
    tokens_per_s = usage["completion_tokens"] / cold
    print(f"raw llama.cpp baseline (2 instances x 1 thread): {raw:.0f} tok/s")
    print(
        f"critique-sft build: {cold:.1f} s, {usage['rows']} rows, {usage['failures']} failures,"
        f" {usage['calls']} model calls, {usage['retries']} retries,"
        f" {usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion tokens"
    )
    print(
        f"CPU time of the build: {usage['cpu']:.0f} s (on {os.cpu_count()} idle cores the wall"
        f" time would be about {usage['cpu'] / (os.cpu_count() or 1):.0f} s; load average at"
        f" the end: {os.getloadavg()[0]:.1f})"
    )
    print(f"generation: {tokens_per_s:.0f} tok/s = {tokens_per_s / raw:.2f}x the raw baseline")
    print(clock.report(cold))
    print(
        f"cache-hit rerun: {warm:.1f} s ({warm_usage['cache_hits']} cache hits,"
        f" {warm_usage['calls']} calls) = {warm / cold:.4f}x the first build"
    )
    print(f"target: under 180 s for the default build -> {'met' if cold < 180 else 'MISSED'}")


if __name__ == "__main__":
    main()
