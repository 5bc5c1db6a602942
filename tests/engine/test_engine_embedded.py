"""The real embedded model (llama.cpp + SmolLM2) and a real llama.cpp server."""

from __future__ import annotations

import json
import os
import sys

import polars as pl
import pytest
from engine_helpers import embedded_path

from datagen.engine import Engine
from datagen.generator import GeneratorContext
from datagen.llm import ChatRequest
from datagen_plugins.responses import ResponsesGenerator

pytestmark = pytest.mark.embedded

SCHEMA = {
    "type": "object",
    "properties": {"score": {"enum": [1, 2, 3, 4, 5]},
                   "reason": {"type": "string", "maxLength": 60}},
    "required": ["score", "reason"],
}


@pytest.fixture(autouse=True)
def _needs_model():
    embedded_path()


def sampled(n: int, seed_base: int = 0) -> list[ChatRequest]:
    return [ChatRequest.chat(f"Name an animal that starts with {'ABCDEFGH'[i]}.", max_tokens=12,
                             temperature=0.9, seed=seed_base + i) for i in range(n)]


def test_same_calls_in_a_fresh_process_give_the_same_answers(engine_home):
    requests = sampled(4)
    runs = []
    for _ in range(2):
        with Engine(["embedded?instances=1"], home=engine_home, use_cache=False) as engine:
            runs.append([a.text for a in engine.models[0].complete(requests)])
            assert engine.counters.calls == 4
    assert runs[0] == runs[1] and all(runs[0])


def test_rerun_makes_zero_model_calls(engine_home):
    with Engine(["embedded"], home=engine_home) as engine:
        first = engine.models[0].complete(sampled(3))
    with Engine(["embedded"], home=engine_home) as engine:
        second = engine.models[0].complete(sampled(3))
        assert engine.counters.calls == 0 and engine.counters.cache_hits == 3
    assert [a.text for a in first] == [a.text for a in second]


def test_structured_output_matches_the_schema_or_is_reported(engine_home):
    """With room for the longest reason the schema allows, the grammar closes every answer:
    valid on the first attempt, in json.dumps's layout. Cut short, an answer is reported."""
    ask = "Rate this answer from 1 to 5: 'The capital of France is Rome.' Reply in JSON."
    requests = [ChatRequest.chat(ask, json_schema=SCHEMA, max_tokens=96, temperature=0.7,
                                 seed=i) for i in range(3)]
    cut = ChatRequest.chat(ask, json_schema=SCHEMA, max_tokens=6, temperature=0.7, seed=0)
    with Engine(["embedded?attempts=1"], home=engine_home) as engine:
        *answers, short = engine.models[0].complete([*requests, cut])
    for answer in answers:
        assert answer.ok and answer.attempts == 1 and answer.finish_reason == "stop"
        assert answer.data["score"] in (1, 2, 3, 4, 5) and len(answer.data["reason"]) <= 60
        assert answer.text == json.dumps(answer.data, ensure_ascii=False)
    assert not short.ok and short.finish_reason == "length" and short.error
    assert short.text.startswith('{"score": ') and short.completion_tokens == 6


def test_truncated_answers_are_kept_and_marked(engine_home):
    with Engine(["embedded"], home=engine_home) as engine:
        [answer] = engine.models[0].complete(
            [ChatRequest.chat("Write a long story about a dragon.", max_tokens=4)])
    assert answer.ok and answer.finish_reason == "length" and answer.completion_tokens == 4


def test_gguf_spec_shares_the_cache_identity_of_the_same_file(engine_home):
    with Engine(["embedded", f"gguf:{embedded_path()}"], home=engine_home) as engine:
        embedded, gguf = engine.models
        assert embedded.identity == gguf.identity and embedded.identity.startswith("sha256:")
        assert engine.describe()[0]["license"] == "Apache-2.0"


def test_responses_generator_with_the_embedded_model(engine_home):
    batch = pl.DataFrame({"id": ["a", "b"], "prompt": ["Say hi.", "Count to three."]})
    generator = ResponsesGenerator(ResponsesGenerator.parse_options({"n": 2, "max_tokens": 8}))
    with Engine(["embedded"], home=engine_home) as engine:
        ctx = GeneratorContext(models={"responder": engine.models})
        output = generator.generate(batch, ctx)
    assert [(r["prompt_id"], r["sample_index"]) for r in output.rows] == [
        ("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert len({r["id"] for r in output.rows}) == 4
    assert all(r["model"] == "SmolLM2-135M-Instruct" and r["completion_tokens"] > 0
               for r in output.rows)
    assert output.failures == []


def test_llama_cpp_server_plain_and_structured(engine_home, llama_server):
    spec = f"openai:{llama_server}"
    with Engine([spec], home=engine_home) as engine:
        plain, structured = engine.models[0].complete([
            ChatRequest.chat("Say hello.", max_tokens=8, seed=1),
            ChatRequest.chat("Rate 2+2=4 from 1 to 5 in JSON.", json_schema=SCHEMA,
                             max_tokens=48, seed=2),
        ])
        assert engine.counters.calls >= 2
    assert plain.ok and plain.text and plain.completion_tokens > 0
    assert structured.ok and structured.data["score"] in (1, 2, 3, 4, 5)


def test_llama_cpp_server_samples_with_seeds_and_top_k(engine_home, llama_server):
    prompt = "Write one sentence about rivers."
    with Engine([f"openai:{llama_server}"], home=engine_home) as engine:
        free = engine.models[0].complete([ChatRequest.chat(
            prompt, max_tokens=12, temperature=1.5, seed=s) for s in range(4)])
        top1 = engine.models[0].complete([ChatRequest.chat(
            prompt, max_tokens=12, temperature=1.5, top_k=1, seed=s) for s in range(4)])
    assert all(a.ok and a.completion_tokens > 0 for a in free + top1)
    assert len({a.text for a in free}) >= 3  # each seed samples its own sentence
    assert len({a.text for a in top1}) == 1  # top-k 1 reached the server: only the likeliest


def test_parallel_model_loads_leave_stdout_and_stderr_alone(engine_home):
    before = [os.fstat(fd)[:3] for fd in (1, 2)]
    streams = (sys.stdout, sys.stderr)
    for round_ in range(3):
        with Engine(["embedded?instances=2"], home=engine_home, use_cache=False) as engine:
            engine.models[0].complete(
                [ChatRequest.chat(f"Hi {round_}-{i}", max_tokens=2) for i in range(2)])
    assert [os.fstat(fd)[:3] for fd in (1, 2)] == before
    assert (sys.stdout, sys.stderr) == streams
