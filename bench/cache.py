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

from llama_bench import BareContext, embedded_weights, load

SEQUENCES = 8
FORCED = 6
FORCED_ON = (2, 5)


class Context(BareContext):
    """One context with ``SEQUENCES`` sequences, each holding a ``length``-token prompt."""

    def __init__(self, lib, model, *, unified: bool, length: int, shared: bool):
        super().__init__(lib, model, sequences=SEQUENCES, flash=True, unified=unified)
        self.length = length
        for sequence in range(1 if shared else SEQUENCES):
            self.read_prompt(length, sequence, salt=sequence + 1)
        if shared:
            for sequence in range(1, SEQUENCES):
                lib.llama_memory_seq_cp(self.memory, 0, sequence, -1, -1)
        self.generation = self.mixed = 0.0

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--context", type=int, default=1000)
    args = parser.parse_args()
    lib, _, copy = embedded_weights()
    model = load(lib, copy)
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
