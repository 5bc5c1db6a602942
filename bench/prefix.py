"""Requests sent together that share a long prompt prefix, with and without waiting for it.

    python bench/prefix.py [--rounds 2] [--groups 6] [--per-group 4]

One batched llama.cpp context (8 slots, 1 thread) on the embedded model decodes G groups
of N requests; the requests of a group share ~400 prompt tokens (a judge's requests about
one response) and differ in their last line. Two sides, alternating in the same process:
the decoder as shipped (a request whose prefix another slot is still reading waits, then
copies it) and the same decoder admitting every request at once (each reads the shared
prefix beside the others). Printed per round: seconds, prompt tokens read from the KV
cache, and the ratio (target: waiting faster whenever prefixes are shared).
"""

from __future__ import annotations

import argparse
import statistics
import time


def requests(groups: int, per_group: int) -> list:
    from datagen.llm import ChatRequest

    def context(g: int) -> str:
        return f"Group {g}. " + " ".join(f"fact{g}-{i} is true." for i in range(80))

    return [ChatRequest.chat(f"{context(g)}\nQuestion {k}: say something about fact{g}-{k}.",
                             max_tokens=40, temperature=0.7)
            for g in range(groups) for k in range(per_group)]


def decode(model, batch: list, wait_for_prefixes: bool) -> tuple[float, int]:
    """(seconds, prompt tokens reused) for one pass over ``batch`` on a fresh context."""
    from datagen.engine import Call
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_sequence import Job

    decoder = BatchDecoder(model, slots=8, n_ctx=2048, threads=1)
    if not wait_for_prefixes:
        decoder._prefix_coming = lambda prompt: False  # every request starts at once
    queue = [Job(Call(r, i), lambda answer: None) for i, r in enumerate(batch)]
    started = time.perf_counter()
    while queue or decoder.busy:
        while queue and decoder.free_slots:
            decoder.admit(queue.pop(0))
        decoder.step()
    seconds = time.perf_counter() - started
    reused = decoder.prompt_tokens_reused
    decoder.close()
    return seconds, reused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--per-group", type=int, default=4)
    args = parser.parse_args()
    from datagen.engine.backends.llama_model import LoadedModel
    from datagen.engine.backends.llamacpp import embedded_model_path

    model = LoadedModel(embedded_model_path())
    batch = requests(args.groups, args.per_group)
    ratios = []
    for n in range(1, args.rounds + 1):
        sides = [True, False] if n % 2 else [False, True]  # alternate which goes first
        found = {side: decode(model, batch, side) for side in sides}
        (waiting, reused_w), (at_once, reused_a) = found[True], found[False]
        ratios.append(at_once / waiting)
        print(f"round {n}: waiting {waiting:.1f} s ({reused_w} prompt tokens reused), "
              f"all at once {at_once:.1f} s ({reused_a} reused): {at_once / waiting:.2f}x")
    print(f"waiting for shared prefixes vs not, {len(batch)} requests: median "
          f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)")
    model.close()


if __name__ == "__main__":
    main()
