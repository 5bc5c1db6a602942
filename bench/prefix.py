"""Shared prompt prefixes: waiting for one being read, and keeping them across steps.

    python bench/prefix.py [--rounds 2] [--groups 6] [--per-group 4] [--part together|steps]

One batched llama.cpp context (8 slots, 1 thread) on the embedded model decodes G groups
of N requests; the requests of a group share ~400 prompt tokens (a judge's requests about
one response) and differ in their last line. Two sides, alternating in the same process:
the decoder as shipped (a request whose prefix another slot is still reading waits, then
shares its cells) and the same decoder admitting every request at once (each reads the shared
prefix beside the others). Printed per round: seconds, prompt tokens read from the KV
cache, and the ratio (target: waiting faster whenever prefixes are shared).

``--part steps``: a two-step pipeline over 2 x G cases of ~400 tokens (first one question
per case, then, once all are answered, a follow-up that repeats the case), so the slots
have been taken by other cases when a follow-up comes. Sides: the decoder with its prefix
store (the follow-up restores its case from host memory) and without (it reads it again).
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


def two_steps(cases: int) -> list[list]:
    from datagen.llm import ChatRequest

    def case(c: int) -> str:
        return f"Case {c}. " + " ".join(f"item{c}-{i} weighs {i % 7} kg." for i in range(60))

    first = [ChatRequest.chat(f"{case(c)}\nWhich item is heaviest?", max_tokens=24,
                              temperature=0.7) for c in range(cases)]
    then = [ChatRequest.chat(f"{case(c)}\nName two items that weigh the same.", max_tokens=24,
                             temperature=0.7) for c in range(cases)]
    return [first, then]


def decode(model, steps: list[list], wait_for_prefixes: bool = True,
           store_mb: int = 0) -> tuple[float, int]:
    """(seconds, prompt tokens reused) for the ``steps``, one after the other, on a fresh
    context."""
    from datagen.engine import Call
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_prefixes import PrefixStore
    from datagen.engine.backends.llama_sequence import Job

    store = PrefixStore(model.lib, store_mb << 20) if store_mb else None
    decoder = BatchDecoder(model, slots=8, n_ctx=2048, threads=1, prefixes=store)
    if not wait_for_prefixes:
        decoder._prefix_coming = lambda prompt: False  # every request starts at once
    started = time.perf_counter()
    for step in steps:
        queue = [Job(Call(r, i), lambda answer: None) for i, r in enumerate(step)]
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
    parser.add_argument("--part", choices=("together", "steps"), default="together")
    args = parser.parse_args()
    from datagen.engine.backends.llama_model import LoadedModel
    from datagen.engine.backends.llamacpp import embedded_model_path

    model = LoadedModel(embedded_model_path())
    if args.part == "steps":
        compare(model, two_steps(2 * args.groups), args.rounds, "with the store",
                "without", {"store_mb": 1024}, {"store_mb": 0})
    else:
        compare(model, [requests(args.groups, args.per_group)], args.rounds, "waiting",
                "all at once", {"wait_for_prefixes": True}, {"wait_for_prefixes": False})
    model.close()


def compare(model, steps: list[list], rounds: int, shipped: str, plain: str,
            shipped_options: dict, plain_options: dict) -> None:
    """Both sides ``rounds`` times, alternating which goes first; prints plain / shipped."""
    ratios = []
    for n in range(1, rounds + 1):
        sides = [True, False] if n % 2 else [False, True]
        found = {side: decode(model, steps, **(shipped_options if side else plain_options))
                 for side in sides}
        (ours, reused_o), (theirs, reused_t) = found[True], found[False]
        ratios.append(theirs / ours)
        print(f"round {n}: {shipped} {ours:.1f} s ({reused_o} prompt tokens reused), "
              f"{plain} {theirs:.1f} s ({reused_t} reused): {theirs / ours:.2f}x")
    calls = sum(len(step) for step in steps)
    print(f"{shipped} vs {plain}, {calls} requests: median {statistics.median(ratios):.2f}x "
          f"({min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
