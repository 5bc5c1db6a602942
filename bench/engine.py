"""Engine throughput against plain baselines, measured in one run on this machine.

    python bench/engine.py [--k 32] [--max-tokens 64] [--vllm MODEL_DIR]

(a) embedded: datagen's tok/s for K requests vs the same requests in a plain loop over one
    llama-cpp-python instance (target >= 1.3x)
(b) server: datagen's tok/s against a local server (llama.cpp's, or vLLM's with --vllm) vs a
    plain async client at the best concurrency found (target >= 0.9x)
(c) warm cache: a rerun's wall time vs the cold run (target <= 5%)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path


def prompts(k: int) -> list[str]:
    text = resources.files("datagen.catalogs").joinpath("data/prompts.jsonl").read_text()
    base = [json.loads(line)["prompt"] for line in text.splitlines() if line.strip()]
    return [f"{base[i % len(base)]} (variant {i // len(base)})" for i in range(k)]


def requests(k: int, max_tokens: int):
    from datagen.llm import ChatRequest

    return [ChatRequest.chat(p, max_tokens=max_tokens, temperature=0.7, seed=i)
            for i, p in enumerate(prompts(k))]


def plain_llama_loop(k: int, max_tokens: int) -> tuple[float, int]:
    from llama_cpp import Llama

    from datagen.engine.backends.llamacpp import embedded_model_path

    started = time.perf_counter()
    # The best single-instance setting: one thread for decoding and for prompts.
    llm = Llama(model_path=str(embedded_model_path()), n_ctx=4096, n_threads=1,
                n_threads_batch=1, verbose=False)
    tokens = 0
    for i, prompt in enumerate(prompts(k)):
        out = llm.create_chat_completion([{"role": "user", "content": prompt}],
                                         max_tokens=max_tokens, temperature=0.7, seed=i)
        tokens += out["usage"]["completion_tokens"]
    return time.perf_counter() - started, tokens


def datagen_run(spec: str, home: Path, k: int, max_tokens: int, use_cache: bool = True):
    from datagen.engine import Engine

    started = time.perf_counter()
    with Engine([spec], home=home, use_cache=use_cache) as engine:
        engine.models[0].complete(requests(k, max_tokens))
        counters = engine.counters
    return time.perf_counter() - started, counters


def plain_async_client(url: str, model: str, k: int, max_tokens: int, concurrency: int):
    import httpx

    async def run() -> int:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=600) as client:
            async def one(i: int, prompt: str) -> int:
                async with gate:
                    reply = await client.post(f"{url}/chat/completions", json={
                        "model": model, "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": max_tokens, "temperature": 0.7, "seed": i})
                    return reply.json()["usage"]["completion_tokens"]
            return sum(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts(k)))))

    started = time.perf_counter()
    tokens = asyncio.run(run())
    return time.perf_counter() - started, tokens


def start_server(vllm_dir: str | None) -> tuple[subprocess.Popen, str, str]:
    from datagen.engine.backends.llamacpp import embedded_model_path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "engine"))
    from engine_helpers import free_port, wait_for

    port = free_port()
    if vllm_dir:
        command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
                   vllm_dir, "--served-model-name", "bench", "--enforce-eager",
                   "--gpu-memory-utilization", "0.2", "--max-model-len", "2048"]
    else:
        command = [sys.executable, "-m", "llama_cpp.server", "--model",
                   str(embedded_model_path()), "--model_alias", "bench", "--n_threads", "2",
                   "--n_ctx", "4096"]
    process = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    wait_for(url + "/models", process, seconds=600)
    return process, url, "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--server-k", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--vllm", metavar="MODEL_DIR", help="bench vLLM's server instead")
    parser.add_argument("--no-server", action="store_true", help="skip (b)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="datagen-bench-"))

    base_s, base_tok = plain_llama_loop(args.k, args.max_tokens)
    cold_s, cold = datagen_run("embedded", scratch / "a", args.k, args.max_tokens)
    warm_s, warm = datagen_run("embedded", scratch / "a", args.k, args.max_tokens)
    one_s, one = datagen_run("embedded?instances=1", scratch / "c", args.k, args.max_tokens)
    base_rate, ours = base_tok / base_s, cold.completion_tokens / cold_s
    print(f"(a) embedded, {args.k} requests x <= {args.max_tokens} tokens:"
          f" plain loop {base_rate:.0f} tok/s ({base_s:.1f}s), datagen {ours:.0f} tok/s"
          f" ({cold_s:.1f}s): {ours / base_rate:.2f}x (target >= 1.3x);"
          f" datagen with one instance {one.completion_tokens / one_s:.0f} tok/s;"
          f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    if not args.no_server:
        server_bench(args, scratch)
    print(f"(c) warm cache: rerun {warm_s:.3f}s vs cold {cold_s:.2f}s: {warm_s / cold_s:.1%}"
          f" (target <= 5%); model calls on rerun: {warm.calls}")


def server_bench(args: argparse.Namespace, scratch: Path) -> None:
    process, url, model = start_server(args.vllm)
    try:
        levels = [1, 4, 16, 64] if args.vllm else [1, 4]
        plain = {c: plain_async_client(url, model, args.server_k, args.max_tokens, c)
                 for c in levels}
        best = max(plain, key=lambda c: plain[c][1] / plain[c][0])
        best_rate = plain[best][1] / plain[best][0]
        spec = f"openai:{model}@{url}"
        server_s, counters = datagen_run(spec, scratch / "b", args.server_k, args.max_tokens,
                                         use_cache=False)
        rate = counters.completion_tokens / server_s
        rates = ", ".join(f"c={c}: {t / s:.0f}" for c, (s, t) in plain.items())
        kind = "vLLM" if args.vllm else "llama.cpp"
        print(f"(b) {kind} server, {args.server_k} requests: plain async client {rates} tok/s;"
              f" best c={best} {best_rate:.0f} tok/s, datagen {rate:.0f} tok/s:"
              f" {rate / best_rate:.2f}x (target >= 0.9x)")
    finally:
        process.terminate()
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
