"""Helpers for the engine tests: a scripted backend, a fake OpenAI server, the real model."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from datagen.engine import Backend, RawAnswer


def echo_text(messages: list[dict], seed: int) -> str:
    """The deterministic answer the fake server and scripted backend give."""
    blob = json.dumps([messages, seed], sort_keys=True).encode()
    return "answer-" + hashlib.sha256(blob).hexdigest()[:12]


class ScriptedBackend(Backend):
    """Answers from a script: ``reply(call) -> text``; counts every call it gets.

    Only for orchestration logic (cache, retries, ordering): no model involved.
    """

    kind = "scripted"
    description = "test double"
    params = {"name": "distinguishes instances"}
    reply: Callable = staticmethod(lambda call: echo_text(
        [m.as_dict() for m in call.request.messages], call.seed))
    calls: list = []

    def __init__(self, spec, *, home):
        super().__init__(spec, home=home)
        type(self).calls = []

    def compute_identity(self) -> str:
        return "scripted-" + (self.spec.param("name") or "0")

    def answer(self, calls, done):
        for index in reversed(range(len(calls))):  # out of order on purpose
            type(self).calls.append(calls[index])
            text = type(self).reply(calls[index])
            done(index, RawAnswer(text=text, prompt_tokens=3, completion_tokens=len(text)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 that misbehaves on demand.

    ``plan`` is a list of actions used by successive chat requests, then "ok":
    "500", "429:SECONDS" (Retry-After), "hang" (never answers in time),
    "drop" (closes the connection in the middle of the body), "ok".
    """

    def __init__(self, delay: float = 0.0, owned_by: str = "fake"):
        self.plan: list[str] = []
        self.delay = delay
        self.owned_by = owned_by
        self.received: list[tuple[float, dict]] = []
        self.answered = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _next_action(self, body: dict) -> str:
        with self.lock:
            self.received.append((time.monotonic(), body))
            return self.plan.pop(0) if self.plan else "ok"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._send(200, {"object": "list", "data": [
                    {"id": "fake-model", "object": "model", "owned_by": fake.owned_by}]})

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                action = fake._next_action(body)
                if action == "500":
                    return self._send(500, {"error": "boom"})
                if action.startswith("429"):
                    return self._send(429, {"error": "slow down"},
                                      {"Retry-After": action.split(":")[1]})
                if action == "hang":
                    time.sleep(5)
                    return None
                if action == "drop":
                    return self._drop()
                time.sleep(fake.delay)
                text = echo_text(body["messages"], body.get("seed", 0))
                self._send(200, {
                    "choices": [{"message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 7}})
                with fake.lock:
                    fake.answered += 1

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _drop(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "500")
                self.end_headers()
                self.wfile.write(b'{"choices": [')
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        return Handler

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def embedded_path() -> Path:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the embedded extra) is missing")
    from datagen.engine.backends.llamacpp import embedded_model_path

    try:
        return embedded_model_path()
    except Exception as exc:
        pytest.skip(f"the embedded model is missing: {exc}")


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {seconds}s")


def converted_model_folder() -> Path:
    """SmolLM2 as a Hugging Face folder (vLLM cannot read GGUF), converted once per machine.

    Kept under the temp dir (or ``DATAGEN_TEST_MODEL_CACHE``) so later runs reuse it.
    """
    import os
    import shutil
    import tempfile

    root = Path(os.environ.get("DATAGEN_TEST_MODEL_CACHE")
                or Path(tempfile.gettempdir()) / "datagen-test-models")
    folder = root / "SmolLM2-135M-Instruct"
    if (folder / "config.json").is_file():
        return folder
    pytest.importorskip("torch", reason="converting the GGUF needs the train extra (torch)")
    pytest.importorskip("gguf", reason="converting the GGUF needs the train extra (gguf)")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype="bfloat16")
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(folder)
    except OSError:  # another process finished first
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@contextlib.contextmanager
def running_llama_server(*extra: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serving SmolLM2 (its URL and
    process); ``extra`` adds server flags such as ``--embedding true``."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for(url + "/models", process)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
