"""Engine throughput against plain baselines, measured in one run on this machine.

    python bench/engine.py [--rounds 3] [--k 64] [--max-tokens 64] [--vllm MODEL_DIR]

(a) embedded, whole processes: the peer workload (K prompts "Write one sentence about
    <topic>", up to 64 new tokens, temperature 0.7) through `datagen build responses` and
    through datagen's engine alone, each in a fresh process with a cold cache, against the
    best plain llama-cpp-python configuration on 2 cores (two `Llama` instances, one thread
    each, in two Python threads), run two ways: as a user runs it (the bundled Q4_1 file,
    llama-cpp-python's defaults) and tuned (flash attention on, the Q8_0 copy datagen
    decodes). Process start-up, model load and the catalog commit all count; datagen's
    one-time conversion to Q8_0 counts in its first round (later rounds find the copy, as a
    user's second run does). Rounds alternate the sides so other load hits both; each
    round prints its ratio, then the median and the spread (target >= 1.5x).
(b) server: datagen's tok/s against a local server (llama.cpp's, or vLLM's with --vllm) vs a
    plain async client at the best concurrency found in the same round; rounds alternate
    which side goes first, then the median and the spread (target >= 0.9x)
(c) warm cache: a rerun's wall time vs the cold run (target <= 5%)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOPICS = [
    "the sea", "mountains", "bread", "rain", "libraries", "bicycles", "owls", "winter",
    "coffee", "maps", "bridges", "gardens", "trains", "music", "clocks", "snow", "deserts",
    "candles", "rivers", "chess", "bees", "lighthouses", "volcanoes", "kites", "forests",
    "honey", "glaciers", "markets", "violins", "stars", "tea", "islands", "wolves", "paper",
    "thunder", "caves", "apples", "harbors", "dust", "mirrors", "salt", "foxes", "bells",
    "fog", "copper", "moss", "windmills", "lanterns", "ferns", "tides", "pottery", "sparrows",
    "canyons", "quilts", "comets", "orchards", "ink", "pebbles", "marble", "whales", "meadows",
    "lemons", "ladders", "clouds",
]

PLAIN_TWO_INSTANCES = """
import json, queue, sys, threading
from llama_cpp import Llama
model, prompts_file, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
flash = sys.argv[4] == "flash"
prompts = [json.loads(line)["prompt"] for line in open(prompts_file)]
jobs = queue.SimpleQueue()
for i, p in enumerate(prompts):
    jobs.put((i, p))
tokens = []
load_lock = threading.Lock()  # parallel loads can leave stdout pointing at /dev/null
def work():
    with load_lock:
        llm = Llama(model_path=model, n_ctx=4096, n_threads=1, n_threads_batch=1,
                    flash_attn=flash, verbose=False)
    while True:
        try:
            i, p = jobs.get_nowait()
        except queue.Empty:
            return
        out = llm.create_chat_completion([{"role": "user", "content": p}],
                                         max_tokens=max_tokens, temperature=0.7, seed=i)
        tokens.append(out["usage"]["completion_tokens"])
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"tokens": sum(tokens)}))
"""

ENGINE_ONLY = """
import json, sys
from pathlib import Path
from datagen.engine import Engine
from datagen.llm import ChatRequest
home, prompts_file, max_tokens = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
prompts = [json.loads(line)["prompt"] for line in open(prompts_file)]
requests = [ChatRequest.chat(p, max_tokens=max_tokens, temperature=0.7, top_p=0.95, seed=i)
            for i, p in enumerate(prompts)]
with Engine(["embedded"], home=home) as engine:
    engine.models[0].complete(requests)
    print(json.dumps({"tokens": engine.counters.completion_tokens}))
"""


def write_prompts(folder: Path, k: int) -> Path:
    path = folder / "peer-prompts.jsonl"
    lines = [json.dumps({"id": f"p{i}", "prompt": f"Write one sentence about "
                         f"{TOPICS[i % len(TOPICS)]}."}) for i in range(k)]
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{result.stderr[-2000:]}")
    return seconds, result.stdout


def plain_two_instances(model: Path, prompts: Path, max_tokens: int,
                        flash: bool) -> tuple[float, int]:
    seconds, out = timed([sys.executable, "-c", PLAIN_TWO_INSTANCES, str(model), str(prompts),
                          str(max_tokens), "flash" if flash else "default"])
    return seconds, json.loads(out.strip().splitlines()[-1])["tokens"]


def q8_0_copy(folder: Path) -> Path:
    """The embedded model's Q8_0 copy, as datagen makes it, for the tuned plain loop."""
    from datagen.engine.backends.llama_weights import ensure_converted
    from datagen.engine.backends.llamacpp import embedded_model_path

    return ensure_converted(embedded_model_path(), folder / "plain.q8_0.gguf", threads=2)


def datagen_env(home: Path) -> dict[str, str]:
    """A fresh home per process; converted weights shared between rounds (a user's own
    folder keeps them too)."""
    return {**os.environ, "DATAGEN_HOME": str(home),
            "DATAGEN_WEIGHTS": str(home.parent / "weights")}


def engine_process(home: Path, prompts: Path, max_tokens: int) -> tuple[float, int]:
    seconds, out = timed([sys.executable, "-c", ENGINE_ONLY, str(home), str(prompts),
                          str(max_tokens)], env=datagen_env(home))
    return seconds, json.loads(out.strip().splitlines()[-1])["tokens"]


def build_process(home: Path, prompts: Path, max_tokens: int) -> tuple[float, int]:
    datagen = str(Path(sys.executable).with_name("datagen"))
    seconds, _ = timed([datagen, "build", "responses", "--input", str(prompts), "-m",
                        "embedded", "-o", "n=1", "-o", f"max_tokens={max_tokens}",
                        "-o", "temperature=0.7", "-q"],
                       env=datagen_env(home))
    return seconds, cached_completion_tokens(home)


def cached_completion_tokens(home: Path) -> int:
    with sqlite3.connect(home / "cache" / "calls.sqlite") as db:
        return db.execute("SELECT coalesce(sum(completion_tokens), 0) FROM calls").fetchone()[0]


def embedded_rounds(args: argparse.Namespace, scratch: Path) -> None:
    from datagen.engine.backends.llamacpp import embedded_model_path

    prompts = write_prompts(scratch, args.k)
    tuned = q8_0_copy(scratch)
    sides = {
        "plain": lambda home: plain_two_instances(embedded_model_path(), prompts,
                                                  args.max_tokens, flash=False),
        "plain-tuned": lambda home: plain_two_instances(tuned, prompts, args.max_tokens,
                                                        flash=True),
        "build": lambda home: build_process(home, prompts, args.max_tokens),
        "engine": lambda home: engine_process(home, prompts, args.max_tokens),
    }
    ratios: dict[tuple[str, str], list[float]] = {
        (side, base): [] for side in ("build", "engine") for base in ("plain", "plain-tuned")}
    for round_ in range(args.rounds):
        order = list(sides) if round_ % 2 == 0 else list(sides)[::-1]
        rates = {}
        for side in order:
            try:
                seconds, tokens = sides[side](scratch / f"home-{side}-{round_}")
            except RuntimeError as exc:
                print(f"(a) {side} did not run: {exc}", flush=True)
                continue
            rates[side] = (tokens / seconds, seconds, tokens)
        for side, base in ratios:
            if side in rates and base in rates:
                ratios[side, base].append(rates[side][0] / rates[base][0])
        print(f"(a) round {round_ + 1}: " + "; ".join(
            f"{side} {rate:.0f} tok/s ({seconds:.1f}s, {tokens} tok)"
            for side, (rate, seconds, tokens) in rates.items())
            + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
    for (side, base), values in ratios.items():
        if values:
            print(f"(a) {side} vs {base} 2 x 1-thread instances, whole process, {args.k}"
                  f" prompts: median {statistics.median(values):.2f}x, spread"
                  f" {min(values):.2f}-{max(values):.2f}x over {len(values)} rounds"
                  " (target >= 1.5x)")


def datagen_run(spec: str, home: Path, k: int, max_tokens: int, use_cache: bool = True):
    from datagen.engine import Engine
    from datagen.llm import ChatRequest

    requests = [ChatRequest.chat(f"Write one sentence about {TOPICS[i % len(TOPICS)]}.",
                                 max_tokens=max_tokens, temperature=0.7, seed=i)
                for i in range(k)]
    started = time.perf_counter()
    with Engine([spec], home=home, use_cache=use_cache) as engine:
        engine.models[0].complete(requests)
        counters = engine.counters
    return time.perf_counter() - started, counters


def plain_async_client(url: str, model: str, k: int, max_tokens: int, concurrency: int):
    import httpx

    async def run() -> int:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=600) as client:
            async def one(i: int) -> int:
                prompt = f"Write one sentence about {TOPICS[i % len(TOPICS)]}."
                async with gate:
                    reply = await client.post(f"{url}/chat/completions", json={
                        "model": model, "max_tokens": max_tokens, "temperature": 0.7,
                        "seed": i, "messages": [{"role": "user", "content": prompt}]})
                    return reply.json()["usage"]["completion_tokens"]
            return sum(await asyncio.gather(*(one(i) for i in range(k))))

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


def server_bench(args: argparse.Namespace, scratch: Path) -> None:
    process, url, model = start_server(args.vllm)
    kind = "vLLM" if args.vllm else "llama.cpp"
    ratios = []
    try:
        for round_ in range(args.rounds):
            ratios.append(server_round(args, scratch / f"b{round_}", url, model, kind,
                                       datagen_first=round_ % 2 == 1))
    finally:
        process.terminate()
        process.wait(timeout=60)
    print(f"(b) {kind} server: median {statistics.median(ratios):.2f}x, spread"
          f" {min(ratios):.2f}-{max(ratios):.2f}x over {len(ratios)} rounds (target >= 0.9x)")


def server_round(args: argparse.Namespace, home: Path, url: str, model: str, kind: str,
                 datagen_first: bool) -> float:
    """datagen's rate over the best plain concurrency's, the two measured back to back."""
    def datagen_rate() -> float:
        seconds, counters = datagen_run(f"openai:{model}@{url}", home, args.server_k,
                                        args.max_tokens, use_cache=False)
        return counters.completion_tokens / seconds

    def plain_runs() -> dict[int, tuple[float, int]]:
        levels = [1, 4, 16, 64] if args.vllm else [1, 2, 4]
        return {c: plain_async_client(url, model, args.server_k, args.max_tokens, c)
                for c in levels}

    if datagen_first:
        rate, plain = datagen_rate(), plain_runs()
    else:
        plain, rate = plain_runs(), datagen_rate()
    best = max(plain, key=lambda c: plain[c][1] / plain[c][0])
    best_rate = plain[best][1] / plain[best][0]
    rates = ", ".join(f"c={c}: {t / s:.0f}" for c, (s, t) in plain.items())
    print(f"(b) {kind} server, {args.server_k} requests: plain async client {rates} tok/s;"
          f" best c={best} {best_rate:.0f} tok/s, datagen {rate:.0f} tok/s:"
          f" {rate / best_rate:.2f}x", flush=True)
    return rate / best_rate


def warm_cache(args: argparse.Namespace, scratch: Path) -> None:
    cold_s, _ = datagen_run("embedded", scratch / "c", args.k, args.max_tokens)
    warm_s, warm = datagen_run("embedded", scratch / "c", args.k, args.max_tokens)
    print(f"(c) warm cache: rerun {warm_s:.3f}s vs cold {cold_s:.2f}s: {warm_s / cold_s:.1%}"
          f" (target <= 5%); model calls on rerun: {warm.calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--server-k", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--vllm", metavar="MODEL_DIR", help="bench vLLM's server instead")
    parser.add_argument("--only", choices=["a", "b", "c"], action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="datagen-bench-"))
    parts = args.only or ["a", "b", "c"]
    if "a" in parts:
        embedded_rounds(args, scratch)
    if "b" in parts:
        server_bench(args, scratch)
    if "c" in parts:
        warm_cache(args, scratch)


if __name__ == "__main__":
    main()
