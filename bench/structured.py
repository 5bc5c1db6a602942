"""Structured answers: text the JSON schema forces, decoded without sampling, against plain
constrained sampling.

    python bench/structured.py [--rounds 2] [--requests 16] [--max-tokens 240]

One batched llama.cpp context (8 slots, 1 thread) on the embedded model, as datagen runs it
(the Q8_0 copy, flash attention), answers R critique requests with MultiCritique's own
critique schema (units with tags, criterion, description, severity and suggestion; a
summary per criterion; a score), temperature 0.7. Two sides, alternating in the same
process: the decoder as shipped (one whitespace layout; keys, colons and quotes the grammar
forces are fed in as a chunk, and an answer ends as soon as the grammar allows nothing
else) and plain constrained sampling (llama-cpp-python's grammar with its optional
whitespace, every token sampled). Printed per round: seconds, decoding steps, completion
tokens, valid answers, and the ratio of seconds (target: shipped faster, every answer
valid on both sides).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

CASES = [
    ("How many legs does a spider have?", "A spider has six legs, like every insect."),
    ("What is 17 times 23?", "17 times 23 is 381."),
    ("What is the capital of Australia?", "The capital of Australia is Sydney."),
    ("At what temperature does water boil at sea level?", "Water boils at 90 degrees C."),
]


def requests(count: int, max_tokens: int) -> list:
    from datagen.llm import ChatRequest
    from datagen_plugins.multicritique.request_schemas import critique_schema

    schema = critique_schema(["S1", "S2"], ["correctness", "clarity"],
                             ["correctness", "clarity"], 2, range(1, 11), max_tokens)
    made = []
    for i in range(count):
        query, response = CASES[i % len(CASES)]
        made.append(ChatRequest.chat(
            f"Query: {query}\nResponse: [S1] {response} [S2] I hope this helps.\n"
            f"Critique the response (reviewer {i}): list its errors as units, then a summary"
            " per criterion and a score from 1 to 10, in JSON.",
            json_schema=schema, max_tokens=max_tokens, temperature=0.7, seed=i))
    return made


def weights() -> Path:
    """The file datagen decodes for the embedded model (its Q8_0 copy, made once)."""
    from datagen.engine.backends.llamacpp import EmbeddedBackend
    from datagen.engine.spec import parse_model_spec

    home = Path(tempfile.gettempdir()) / "datagen-bench-structured"
    return EmbeddedBackend(parse_model_spec("embedded"), home=home).weights_path()


def decode(path: Path, calls: list, shipped: bool) -> dict[str, float]:
    from datagen.engine import Call, RawAnswer
    from datagen.engine.backends import llama_model, llama_sampling
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_sequence import Job

    with contextlib.ExitStack() as plain:
        if not shipped:  # llama-cpp-python's grammar as it is, and every token sampled
            plain.enter_context(mock.patch.object(llama_model, "one_layout", lambda g: g))
            plain.enter_context(mock.patch.object(
                llama_sampling.TokenSampler, "forced", lambda self, after, limit: ([], False)))
        model = llama_model.LoadedModel(path)
        decoder = BatchDecoder(model, slots=8, n_ctx=2048, threads=1)
        answers: list[RawAnswer] = []
        queue = [Job(Call(request, request.seed), answers.append) for request in calls]
        steps = 0
        started = time.perf_counter()
        while queue or decoder.busy:
            while queue and decoder.free_slots:
                decoder.admit(queue.pop(0))
            decoder.step()
            steps += 1
        seconds = time.perf_counter() - started
        decoder.close()
        model.close()
    return {"seconds": seconds, "steps": steps,
            "tokens": sum(a.completion_tokens for a in answers),
            "valid": sum(valid_json(a.text) for a in answers)}


def valid_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=240)
    args = parser.parse_args()
    path = weights()
    calls = requests(args.requests, args.max_tokens)
    ratios = []
    for n in range(1, args.rounds + 1):
        order = [True, False] if n % 2 else [False, True]
        found = {side: decode(path, calls, shipped=side) for side in order}
        ours, plain = found[True], found[False]
        ratios.append(plain["seconds"] / ours["seconds"])
        print(f"round {n}: " + "; ".join(
            f"{name} {r['seconds']:.1f} s, {r['steps']} steps, {r['tokens']} tokens,"
            f" {r['valid']}/{len(calls)} valid" for name, r in
            (("forced text", ours), ("plain sampling", plain)))
            + f": {ratios[-1]:.2f}x", flush=True)
    print(f"forced text vs plain constrained sampling, {len(calls)} requests: median"
          f" {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
