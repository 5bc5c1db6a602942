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

from llama_bench import BareContext, embedded_weights, load

SEQUENCES = 8
CHUNK = 64


class Context(BareContext):
    """One context with ``SEQUENCES`` sequences sharing a prompt."""

    def __init__(self, lib, model, flash: bool, context: int):
        super().__init__(lib, model, sequences=SEQUENCES, flash=flash, unified=False)
        self.length = context
        self.read_prompt(context, 0)
        for sequence in range(1, SEQUENCES):
            lib.llama_memory_seq_cp(self.memory, 0, sequence, -1, -1)

    def generation_step(self, step: int) -> float:
        position = self.length + step
        return self.decode([(200 + step, position, s, True) for s in range(SEQUENCES)])

    def prompt_chunk(self, step: int) -> float:
        start = self.length + step + 1
        seconds = self.decode([(300 + i, start + i, 0, i == CHUNK - 1) for i in range(CHUNK)])
        self.lib.llama_memory_seq_rm(self.memory, 0, start, -1)  # taken back out
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--context", type=int, default=500)
    args = parser.parse_args()
    lib, original, copy = embedded_weights()
    models = {"Q4_1": load(lib, original), "Q8_0": load(lib, copy)}
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
