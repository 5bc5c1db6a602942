"""Weights type and flash attention: the embedded model's cost per decoding step.

    python bench/kernels.py [--steps 40] [--context 500]

Four llama.cpp contexts on one thread, 8 sequences each with a CONTEXT-token prompt: the
bundled Q4_1 file and datagen's Q8_0 copy of it, each with flash attention off and on.
Every step, each context in turn decodes one token for each of its 8 sequences (a
generation step) and then a 64-token prompt chunk, so a slow spell of the machine hits
all four alike. Printed: milliseconds per generation step and per chunk, and the speed-up
of each configuration over Q4_1 without flash attention (the configuration before datagen
converted the weights; datagen runs Q8_0 with flash attention).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

SEQUENCES = 8
CHUNK = 64


class Context:
    """One llama.cpp context with ``SEQUENCES`` sequences sharing a prompt."""

    def __init__(self, lib, model, flash: bool, context: int):
        params = lib.llama_context_default_params()
        params.n_ctx = SEQUENCES * 2048
        params.n_seq_max = SEQUENCES
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = 1
        params.kv_unified = False
        params.flash_attn_type = 1 if flash else 0
        params.no_perf = True
        from llama_cpp._internals import LlamaContext

        self.lib = lib
        self.context = LlamaContext(model=model, params=params, verbose=False)
        self.batch = lib.llama_batch_init(512, 0, 1)
        self.memory = lib.llama_get_memory(self.context.ctx)
        self.length = context
        self.decode([(100 + i % 300, i, 0, i == context - 1) for i in range(context)])
        for sequence in range(1, SEQUENCES):
            lib.llama_memory_seq_cp(self.memory, 0, sequence, -1, -1)

    def decode(self, tokens: list[tuple[int, int, int, bool]]) -> float:
        batch = self.batch
        for i, (token, position, sequence, logits) in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = sequence, logits
        batch.n_tokens = len(tokens)
        started = time.perf_counter()
        if self.lib.llama_decode(self.context.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - started

    def generation_step(self, step: int) -> float:
        position = self.length + step
        return self.decode([(200 + step, position, s, True) for s in range(SEQUENCES)])

    def prompt_chunk(self, step: int) -> float:
        start = self.length + step + 1
        seconds = self.decode([(300 + i, start + i, 0, i == CHUNK - 1) for i in range(CHUNK)])
        self.lib.llama_memory_seq_rm(self.memory, 0, start, -1)  # taken back out
        return seconds

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        self.context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--context", type=int, default=500)
    args = parser.parse_args()
    from llama_cpp._internals import LlamaModel

    from datagen.engine.backends.llama_model import llama_cpp_module
    from datagen.engine.backends.llama_weights import ensure_converted
    from datagen.engine.backends.llamacpp import embedded_model_path

    lib = llama_cpp_module()
    original = embedded_model_path()
    copy = ensure_converted(original, Path(tempfile.mkdtemp()) / "embedded.q8_0.gguf", 2)
    models = {name: LlamaModel(path_model=str(path), params=lib.llama_model_default_params(),
                               verbose=False)
              for name, path in (("Q4_1", original), ("Q8_0", copy))}
    contexts = {(name, flash): Context(lib, model, flash, args.context)
                for name, model in models.items() for flash in (False, True)}
    generation = dict.fromkeys(contexts, 0.0)
    chunks = dict.fromkeys(contexts, 0.0)
    for step in range(args.steps):
        for key, context in contexts.items():
            generation[key] += context.generation_step(step)
            chunks[key] += context.prompt_chunk(step)
    base = ("Q4_1", False)
    for key in contexts:
        name, flash = key
        print(f"{name}, flash attention {'on ' if flash else 'off'}: generation step"
              f" {1000 * generation[key] / args.steps:.0f} ms"
              f" ({generation[base] / generation[key]:.2f}x), {CHUNK}-token chunk"
              f" {1000 * chunks[key] / args.steps:.0f} ms ({chunks[base] / chunks[key]:.2f}x)")
    for context in contexts.values():
        context.close()


if __name__ == "__main__":
    main()
