"""Embeddings from a GGUF model with llama.cpp in-process (mean-pooled hidden states).

A separate, lazily created context in embedding mode: the chat decoders are left alone, and
a build that never embeds never pays for it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONTEXT_TOKENS = 2048


class LlamaEmbedder:
    """Thread-safe wrapper around one ``llama_cpp.Llama(embedding=True)``."""

    def __init__(self, model_path: Path, threads: int = 1):
        self.model_path = Path(model_path)
        self.threads = threads
        self._llama: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            llama = self._load()
            return [list(map(float, llama.embed(text, normalize=True))) for text in texts]

    def _load(self) -> Any:
        if self._llama is None:
            from datagen.engine.backends.llama_model import llama_cpp_module

            llama_cpp = llama_cpp_module()  # its log: errors only
            self._llama = llama_cpp.Llama(
                model_path=str(self.model_path),
                embedding=True,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                n_ctx=CONTEXT_TOKENS,
                n_batch=CONTEXT_TOKENS,
                n_ubatch=CONTEXT_TOKENS,
                n_threads=self.threads,
                verbose=False,
            )
        return self._llama

    def close(self) -> None:
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
