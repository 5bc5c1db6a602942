"""A multi-step chain on a local vLLM server: datagen's step kit and executor against a plain
async client, in the same run.

    python bench/chain.py [--items 64] [--rounds 2] [--model DIR] [--max-tokens 48]

Each item is a 3-step chain whose every request depends on the previous answer (a sentence
about a topic -> a shorter version -> a title for it). The plain client runs each item's
chain on its own, all items at once (concurrency = items), which keeps the server's window as
full as a chain allows. datagen runs the same chain as a generator (`--batch-size` items a
batch, each step a `StepKit.complete` over the batch) through its in-process executor with
`--overlap` batches in flight, with a cold call cache. Both sample at temperature 0.7 with
the same max tokens; output tokens/s counts what the server reports. Target: datagen >= 0.9x
the plain client.

The server is `vllm.entrypoints.openai.api_server` on 127.0.0.1 serving the SmolLM2 folder
(`datagen models prepare smollm2 --output DIR` makes one; `--model` reuses it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from engine import TOPICS  # noqa: E402

STEPS = (
    "Write one sentence about {}.",
    "Rewrite this sentence in at most ten words: {}",
    "Give this sentence a title of three words: {}",
)


def prepare_model(folder: str | None) -> Path:
    if folder:
        return Path(folder)
    out = Path(tempfile.gettempdir()) / "datagen-bench-smollm2"
    if not (out / "config.json").is_file():
        subprocess.run([sys.executable, "-m", "datagen", "models", "prepare", "smollm2",
                        "--output", str(out)], check=True)
    return out


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
         "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port),
         "--max-model-len", "2048", "--enforce-eager", "--gpu-memory-utilization", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(1)
    process.kill()
    raise SystemExit("the vLLM server did not start")


# -- the plain client ------------------------------------------------------------------------


async def plain_chain(client: httpx.AsyncClient, url: str, topic: str, max_tokens: int) -> int:
    tokens, previous = 0, topic
    for template in STEPS:
        body = {"model": "smollm2", "max_tokens": max_tokens, "temperature": 0.7,
                "messages": [{"role": "user", "content": template.format(previous)}]}
        reply = (await client.post(f"{url}/chat/completions", json=body)).json()
        previous = reply["choices"][0]["message"]["content"].strip()
        tokens += reply["usage"]["completion_tokens"]
    return tokens


async def plain(url: str, topics: list[str], max_tokens: int) -> tuple[float, int]:
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=len(topics))
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        counts = await asyncio.gather(*(plain_chain(client, url, t, max_tokens) for t in topics))
    return time.perf_counter() - started, sum(counts)


# -- datagen ---------------------------------------------------------------------------------


def chain_generator(max_tokens: int, batch_size: int) -> Any:
    from datagen.generator import BatchOutput, Generator, GeneratorContext
    from datagen.llm import ChatRequest
    from datagen.roles import Role
    from datagen.steps import Ask, StepKit

    batch_size_ = batch_size

    class Chain(Generator):
        name: ClassVar[str] = "chain"
        output_schema: ClassVar[Any] = {"type": "object"}
        roles: ClassVar[tuple[Role, ...]] = (Role("writer"),)
        batch_size: ClassVar[int] = batch_size_

        def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
            kit = StepKit(ctx)
            texts = batch["topic"].to_list()
            for step, template in enumerate(STEPS):
                asks = [Ask("writer", ChatRequest.chat(template.format(t), max_tokens=max_tokens,
                                                       temperature=0.7, step=f"step{step}"), t)
                        for t in texts]
                texts = [c.text.strip() for c in kit.complete(asks)]
            kit.out.rows = [{"id": str(i), "title": t} for i, t in enumerate(texts)]
            return kit.out

    return Chain(Chain.parse_options({}))


class NoSink:
    def write_rows(self, data: Any) -> None: ...

    def write_step(self, step: str, data: Any) -> None: ...

    def write_failures(self, failures: list[Any]) -> None: ...


class NoProgress:
    def rows_done(self, n: int) -> None: ...


def with_datagen(
    url: str, topics: list[str], max_tokens: int, overlap: int, batch_size: int
) -> tuple[float, int]:
    from datagen.build import run_stages
    from datagen.engine import Engine
    from datagen.executor import ExecutorSettings, LocalExecutor
    from datagen.generator import GeneratorContext
    from datagen.inputs import Input

    generator = chain_generator(max_tokens, batch_size)
    source = Input(pl.DataFrame({"topic": topics}).to_arrow(), {"kind": "bench"})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home, \
            Engine([f"openai:smollm2@{url}"], home=Path(home)) as engine:
        ctx = GeneratorContext(models={"writer": engine.models}, specs={"writer": ("x",)})
        run_stages(generator, source, None, ctx, LocalExecutor(ExecutorSettings(overlap=overlap)),
                   NoSink(), NoProgress())
        tokens = engine.counters.completion_tokens
    return time.perf_counter() - started, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--model")
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    topics = (TOPICS * (1 + args.items // len(TOPICS)))[: args.items]
    server = start_server(prepare_model(args.model), args.port)
    url = f"http://127.0.0.1:{args.port}/v1"
    ratios = []
    try:
        asyncio.run(plain(url, topics[:8], 8))  # warm the server once
        for round_ in range(args.rounds):
            base_s, base_tok = asyncio.run(plain(url, topics, args.max_tokens))
            ours_s, ours_tok = with_datagen(url, topics, args.max_tokens, args.overlap,
                                            args.batch_size)
            ratio = (ours_tok / ours_s) / (base_tok / base_s)
            ratios.append(ratio)
            print(f"round {round_ + 1}: plain client {base_tok / base_s:.0f} tok/s"
                  f" ({base_tok} tokens, {base_s:.1f} s); datagen {ours_tok / ours_s:.0f} tok/s"
                  f" ({ours_tok} tokens, {ours_s:.1f} s): {ratio:.2f}x")
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"3-step chain over {args.items} items, vLLM server: datagen / plain async client ="
          f" {statistics.median(ratios):.2f}x (median of {len(ratios)};"
          f" {min(ratios):.2f}-{max(ratios):.2f}); target >= 0.9x")


if __name__ == "__main__":
    main()
