"""KV cache layout: one cache for all sequences against one stream per sequence.

    python bench/cache.py [--steps 30] [--context 1000]

Two llama.cpp contexts of the embedded model (datagen's Q8_0 copy, flash attention, one
thread, 8 sequences): one holds every sequence in one cache, where a shared prefix is one
set of cells (datagen's layout), the other gives each sequence its own stream, where a
shared prefix is copied into each. Both run the same steps, interleaved, so a slow spell of
the machine hits both alike:
- a generation step: one token for each of the 8 sequences;
- a mixed step: one token each, and 6 forced tokens for two of them, as one call.
Once with the 8 sequences sharing a CONTEXT-token prompt (four agents critiquing one
response), once with 8 different prompts of half that length. Printed: milliseconds per
step, and the one-cache layout's speed-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

SEQUENCES = 8
FORCED = 6
FORCED_ON = (2, 5)


class Context:
    """One context with ``SEQUENCES`` sequences, each holding a ``length``-token prompt."""

    def __init__(self, lib, model, *, unified: bool, length: int, shared: bool):
        params = lib.llama_context_default_params()
        params.n_ctx = SEQUENCES * 2048
        params.n_seq_max = SEQUENCES
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = 1
        params.kv_unified = unified
        params.flash_attn_type = 1
        params.no_perf = True
        from llama_cpp._internals import LlamaContext

        self.lib = lib
        self.context = LlamaContext(model=model, params=params, verbose=False)
        self.batch = lib.llama_batch_init(512, 0, 1)
        self.memory = lib.llama_get_memory(self.context.ctx)
        self.length = length
        for sequence in range(1 if shared else SEQUENCES):
            for start in range(0, length, 512):
                self.decode([(100 + (i * (sequence + 1)) % 300, i, sequence, i == length - 1)
                             for i in range(start, min(start + 512, length))])
        if shared:
            for sequence in range(1, SEQUENCES):
                lib.llama_memory_seq_cp(self.memory, 0, sequence, -1, -1)
        self.generation = self.mixed = 0.0

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

    def steps(self, step: int) -> None:
        position = self.length
        self.generation += self.decode([(200 + step, position, s, True)
                                        for s in range(SEQUENCES)])
        tokens = []
        for sequence in range(SEQUENCES):
            count = FORCED if sequence in FORCED_ON else 1
            tokens += [(300 + i, position + 1 + i, sequence, i == count - 1)
                       for i in range(count)]
        self.mixed += self.decode(tokens)
        for sequence in range(SEQUENCES):  # taken back out for the next round
            self.lib.llama_memory_seq_rm(self.memory, sequence, position, -1)

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        self.context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--context", type=int, default=1000)
    args = parser.parse_args()
    from llama_cpp._internals import LlamaModel

    from datagen.engine.backends.llama_model import llama_cpp_module
    from datagen.engine.backends.llama_weights import ensure_converted
    from datagen.engine.backends.llamacpp import embedded_model_path

    lib = llama_cpp_module()
    copy = ensure_converted(embedded_model_path(),
                            Path(tempfile.mkdtemp()) / "embedded.q8_0.gguf", 2)
    model = LlamaModel(path_model=str(copy), params=lib.llama_model_default_params(),
                       verbose=False)
    for shared, length in ((True, args.context), (False, args.context // 2)):
        sides = {unified: Context(lib, model, unified=unified, length=length, shared=shared)
                 for unified in (True, False)}
        for step in range(args.steps):
            for side in sides.values():
                side.steps(step)
        one, each = sides[True], sides[False]
        what = (f"8 sequences sharing a {length}-token prompt" if shared
                else f"8 different {length}-token prompts")
        print(f"{what}: generation step {1000 * one.generation / args.steps:.0f} ms in one"
              f" cache vs {1000 * each.generation / args.steps:.0f} ms in a stream each"
              f" ({each.generation / one.generation:.2f}x); mixed step"
              f" {1000 * one.mixed / args.steps:.0f} vs {1000 * each.mixed / args.steps:.0f}"
              f" ms ({each.mixed / one.mixed:.2f}x)")
        for side in sides.values():
            side.close()


if __name__ == "__main__":
    main()
