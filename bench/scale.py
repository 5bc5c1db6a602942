"""Scaling out: the Ray executor with 1, 2 and 4 workers over a latency-bound server.

    python bench/scale.py [--prompts 512] [--latency 0.2] [--concurrency 8]

The `responses` generator runs over an OpenAI-compatible test server on 127.0.0.1 that
sleeps a fixed time per request and uses almost no CPU, so this 2-core machine measures
orchestration, not model speed. Every worker (a Ray actor with its own engine) keeps
`--concurrency` requests in flight. Ray starts once and each worker count gets a warm-up
batch before the timed run, so start-up is not counted; each prompt is new (no cache hits).
Scaling efficiency at N workers = (throughput at N) / (N x throughput at 1); target >= 0.9
at 4 workers.

    python bench/scale.py --part commit [--commit-rows 1000000]

The commit time of one 1M-row version to a shared catalog (PostgreSQL + an S3-compatible
server, both on 127.0.0.1) next to the local catalog, in the same run (bench/shared_commit.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl


class SleepyServer:
    """Answers every chat request after ``latency`` seconds with a fixed short text."""

    def __init__(self, latency: float):
        self.latency = latency
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.server.request_queue_size = 1024
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        latency = self.latency

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send({"data": [{"id": "sleepy", "owned_by": "bench"}]})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                time.sleep(latency)
                self._send({"choices": [{"message": {"role": "assistant", "content": "ok"},
                                         "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 8, "completion_tokens": 1}})

            def _send(self, payload: dict) -> None:
                blob = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

        return Handler

    def close(self) -> None:
        self.server.shutdown()


def batches(prefix: str, prompts: int, size: int) -> list[pl.DataFrame]:
    frame = pl.DataFrame({"id": [f"{prefix}{i}" for i in range(prompts)],
                          "prompt": [f"{prefix} prompt {i}" for i in range(prompts)]})
    return [frame.slice(start, size) for start in range(0, prompts, size)]


def timed_run(workers: int, url: str, args: argparse.Namespace, home: Path) -> float:
    """Requests per second of the Ray executor with ``workers`` actors (after a warm-up)."""
    from datagen.executor import ExecutorSettings
    from datagen.generator import GeneratorContext, Stage
    from datagen_plugins.ray.executor import RayExecutor
    from datagen_plugins.responses import ResponsesGenerator

    generator = ResponsesGenerator(ResponsesGenerator.parse_options({"max_tokens": 4}))
    stage = Stage("generate", generator.generate)
    spec = f"openai:sleepy@{url}?concurrency={args.concurrency}"
    ctx = GeneratorContext(models={}, specs={"responder": (spec,)})
    executor = RayExecutor(ExecutorSettings(overlap=workers, home=home))
    try:
        list(executor.map_batches(stage, batches(f"warm{workers}-", workers, 1), ctx))
        started = time.perf_counter()
        work = batches(f"run{workers}-", args.prompts, args.batch_size)
        list(executor.map_batches(stage, work, ctx))
        return args.prompts / (time.perf_counter() - started)
    finally:
        executor.close()


def ray_scaling(args: argparse.Namespace) -> None:
    import ray

    server = SleepyServer(args.latency)
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as home:
            rates = {n: timed_run(n, server.url, args, Path(home)) for n in args.workers}
    finally:
        ray.shutdown()
        server.close()
    ideal = args.concurrency / args.latency
    for n, rate in rates.items():
        efficiency = rate / (n * rates[args.workers[0]])
        print(f"{n} worker(s): {rate:.0f} requests/s ({rate / (n * ideal):.0%} of {n} x"
              f" {args.concurrency} in flight at {args.latency}s each); scaling efficiency"
              f" {efficiency:.2f}")
    last = args.workers[-1]
    print(f"Ray scaling efficiency at {last} workers: {rates[last] / (last * rates[1]):.2f}"
          " (target >= 0.9)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--part", choices=["all", "ray", "commit"], default="all")
    parser.add_argument("--commit-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.part in ("all", "ray"):
        ray_scaling(args)
    if args.part in ("all", "commit"):  # a shared catalog next to the local one
        from shared_commit import commit_times, report

        report(args.commit_rows, commit_times(args.commit_rows))


if __name__ == "__main__":
    main()
