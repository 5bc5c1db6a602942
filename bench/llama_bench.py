"""What the llama.cpp kernel benchmarks share: the embedded model's weight files, and a bare
context that decodes hand-made batches and times each call."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

POSITIONS = 2048  # per sequence


def embedded_weights() -> tuple[Any, Path, Path]:
    """llama_cpp, the bundled Q4_1 file and datagen's Q8_0 copy of it (made in a temp dir)."""
    from datagen.engine.backends.llama_model import llama_cpp_module
    from datagen.engine.backends.llama_weights import ensure_converted
    from datagen.engine.backends.llamacpp import embedded_model_path

    original = embedded_model_path()
    copy = ensure_converted(original, Path(tempfile.mkdtemp()) / "embedded.q8_0.gguf", 2)
    return llama_cpp_module(), original, copy


def load(lib: Any, path: Path) -> Any:
    from llama_cpp._internals import LlamaModel

    return LlamaModel(path_model=str(path), params=lib.llama_model_default_params(),
                      verbose=False)


class BareContext:
    """One llama.cpp context on one thread holding ``sequences`` sequences."""

    def __init__(self, lib: Any, model: Any, *, sequences: int, flash: bool, unified: bool):
        from llama_cpp._internals import LlamaContext

        params = lib.llama_context_default_params()
        params.n_ctx = sequences * POSITIONS
        params.n_seq_max = sequences
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = 1
        params.kv_unified = unified
        params.flash_attn_type = 1 if flash else 0
        params.no_perf = True
        self.lib = lib
        self.context = LlamaContext(model=model, params=params, verbose=False)
        self.batch = lib.llama_batch_init(512, 0, 1)
        self.memory = lib.llama_get_memory(self.context.ctx)

    def decode(self, tokens: list[tuple[int, int, int, bool]]) -> float:
        """One call of (token, position, sequence, wants logits); its seconds."""
        batch = self.batch
        for i, (token, position, sequence, logits) in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = sequence, logits
        batch.n_tokens = len(tokens)
        started = time.perf_counter()
        if self.lib.llama_decode(self.context.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - started

    def read_prompt(self, length: int, sequence: int, salt: int = 1) -> None:
        """Decode a made-up ``length``-token prompt into ``sequence``."""
        for start in range(0, length, 512):
            self.decode([(100 + (i * salt) % 300, i, sequence, i == length - 1)
                         for i in range(start, min(start + 512, length))])

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        self.context.close()
