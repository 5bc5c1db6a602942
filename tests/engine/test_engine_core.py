"""Engine orchestration: cache, structured retries, ordering, specs (scripted backend)."""

from __future__ import annotations

import io
import json

import pytest
from engine_helpers import ScriptedBackend

from datagen.engine import Engine, Progress, parse_model_spec
from datagen.engine.structured import attempt_seed, parse_and_validate
from datagen.errors import NotFound, UsageError
from datagen.llm import ChatRequest

SCRIPTED = {"scripted": ScriptedBackend}
SCHEMA = {
    "type": "object",
    "properties": {"score": {"enum": [1, 2, 3]}, "why": {"type": "string", "maxLength": 20}},
    "required": ["score", "why"],
}


def requests(n: int, **params) -> list[ChatRequest]:
    return [ChatRequest.chat(f"question {i}", max_tokens=8, seed=i, **params) for i in range(n)]


def open_engine(home, specs=("scripted",), **kwargs) -> Engine:
    return Engine(list(specs), home=home, backend_classes=SCRIPTED, **kwargs)


def test_answers_come_back_in_request_order(engine_home):
    with open_engine(engine_home) as engine:
        answers = engine.models[0].complete(requests(5))
    expected = [ScriptedBackend.reply(c) for c in sorted(ScriptedBackend.calls,
                                                         key=lambda c: c.seed)]
    assert [a.text for a in answers] == expected
    assert all(a.ok and not a.cached for a in answers)


def test_rerun_is_served_from_cache_with_zero_calls(engine_home):
    with open_engine(engine_home) as engine:
        first = engine.models[0].complete(requests(4))
    with open_engine(engine_home) as engine:
        second = engine.models[0].complete(requests(4))
        assert ScriptedBackend.calls == []
        assert engine.counters.calls == 0 and engine.counters.cache_hits == 4
    assert [a.text for a in second] == [a.text for a in first]
    assert all(a.cached for a in second)


def test_no_cache_bypasses_reads_but_still_writes(engine_home):
    with open_engine(engine_home) as engine:
        engine.models[0].complete(requests(3))
    with open_engine(engine_home, use_cache=False) as engine:
        engine.models[0].complete(requests(3))
        assert len(ScriptedBackend.calls) == 3
    with open_engine(engine_home) as engine:
        engine.models[0].complete(requests(4))
        assert len(ScriptedBackend.calls) == 1


def test_cache_key_covers_sampling_params_and_model(engine_home):
    with open_engine(engine_home) as engine:
        engine.models[0].complete(requests(2))
    with open_engine(engine_home) as engine:
        engine.models[0].complete(requests(2, temperature=0.5))
        assert len(ScriptedBackend.calls) == 2
    with open_engine(engine_home, specs=["scripted?name=other"]) as engine:
        engine.models[0].complete(requests(2))
        assert len(ScriptedBackend.calls) == 2
    with open_engine(engine_home) as engine:
        engine.models[0].complete(requests(2, top_k=50))
        assert len(ScriptedBackend.calls) == 2


def test_an_unset_top_k_keeps_the_cache_keys_of_requests_without_one():
    from datagen.engine import Call
    from datagen.engine.cache import call_key

    plain, unset = ChatRequest.chat("hi"), ChatRequest.chat("hi", top_k=None)
    assert call_key("k", "m", Call(plain, 1)) == call_key("k", "m", Call(unset, 1))
    assert call_key("k", "m", Call(plain, 1)) != call_key("k", "m", Call(
        ChatRequest.chat("hi", top_k=40), 1))


def test_openai_requests_carry_top_k_only_when_set():
    from datagen.engine import Call
    from datagen.engine.backends.openai import OpenAIBackend

    spec = parse_model_spec("openai:m@http://127.0.0.1:9/v1?seed=on")
    backend = OpenAIBackend(spec, home=None)
    assert "top_k" not in backend.body(Call(ChatRequest.chat("hi"), 1))
    assert backend.body(Call(ChatRequest.chat("hi", top_k=50), 1))["top_k"] == 50


def test_same_spec_twice_shares_one_backend(engine_home):
    with open_engine(engine_home, specs=["scripted", "scripted", "scripted?name=b"]) as engine:
        a, b, c = engine.models
        assert a.backend is b.backend and a.backend is not c.backend
        described = engine.describe()
    assert [d["spec"] for d in described] == ["scripted", "scripted", "scripted?name=b"]
    assert described[0]["identity"] == "scripted-0" and "license" in described[0]


def test_invalid_json_is_retried_with_a_new_seed(engine_home, monkeypatch):
    def reply(call):
        return "not json {" if call.attempt == 0 else json.dumps({"score": 2, "why": "ok"})

    monkeypatch.setattr(ScriptedBackend, "reply", staticmethod(reply))
    with open_engine(engine_home) as engine:
        answers = engine.models[0].complete(requests(3, json_schema=SCHEMA))
        assert engine.counters.retries == 3 and engine.counters.failures == 0
    assert all(a.ok and a.data == {"score": 2, "why": "ok"} and a.attempts == 2 for a in answers)
    seeds = {c.attempt: set() for c in ScriptedBackend.calls}
    for call in ScriptedBackend.calls:
        seeds[call.attempt].add(call.seed)
    assert seeds[0].isdisjoint(seeds[1])


def test_answer_that_never_validates_is_reported_with_raw_text(engine_home, monkeypatch):
    monkeypatch.setattr(ScriptedBackend, "reply", staticmethod(
        lambda call: json.dumps({"score": 9, "why": "out of range"})))
    with open_engine(engine_home, max_attempts=2) as engine:
        [answer] = engine.models[0].complete(requests(1, json_schema=SCHEMA))
        assert engine.counters.failures == 1
    assert not answer.ok and "score" in answer.error and answer.attempts == 2
    assert answer.text == json.dumps({"score": 9, "why": "out of range"})
    assert len(ScriptedBackend.calls) == 2


def test_retried_structured_calls_are_cached_too(engine_home, monkeypatch):
    monkeypatch.setattr(ScriptedBackend, "reply", staticmethod(
        lambda call: "{" if call.attempt < 2 else '{"score": 1, "why": "x"}'))
    with open_engine(engine_home) as engine:
        engine.models[0].complete(requests(2, json_schema=SCHEMA))
    with open_engine(engine_home) as engine:
        answers = engine.models[0].complete(requests(2, json_schema=SCHEMA))
        assert ScriptedBackend.calls == [] and engine.counters.calls == 0
    assert all(a.data == {"score": 1, "why": "x"} for a in answers)


def test_attempt_seeds_are_deterministic_and_distinct():
    assert attempt_seed(7, 0, 0) == 7
    assert attempt_seed(7, 1, 0) == attempt_seed(7, 1, 0) != attempt_seed(7, 2, 0)
    assert attempt_seed(7, 0, 1) != 7


def test_validation_accepts_fenced_json_and_names_the_violation():
    assert parse_and_validate('```json\n{"score": 1, "why": "a"}\n```', SCHEMA)[0]["score"] == 1
    _, problem = parse_and_validate('{"score": 1, "why": "' + "x" * 30 + '"}', SCHEMA)
    assert problem.startswith("schema violation at why")


@pytest.mark.parametrize("text, kind, target, params", [
    ("embedded", "embedded", "", {}),
    ("gguf:/m/a.gguf?instances=2", "gguf", "/m/a.gguf", {"instances": "2"}),
    ("openai:org/m@http://127.0.0.1:8000/v1", "openai", "org/m@http://127.0.0.1:8000/v1", {}),
    ("vllm:/models/x", "vllm", "/models/x", {}),
])
def test_parse_model_spec(text, kind, target, params):
    spec = parse_model_spec(text)
    assert (spec.kind, spec.target, spec.params) == (kind, target, params)


@pytest.mark.parametrize("cores, params, expected", [
    (1, "", (1, 1)),
    (2, "", (1, 2)),  # one context of two threads: its sequences share one KV cache
    (3, "", (1, 3)),  # the odd core joins the context instead of idling
    (4, "", (2, 2)),
    (5, "", (2, 2)),
    (2, "?instances=2", (2, 1)),  # threads x instances stay within the cores
    (2, "?instances=3", (3, 1)),
    (4, "?threads=1", (4, 1)),
    (2, "?instances=1&threads=4", (1, 4)),  # asked for, not corrected
])
def test_llama_cpp_contexts_and_threads_fit_the_cores(tmp_path, monkeypatch, cores, params,
                                                      expected):
    from datagen.engine.backends import llamacpp

    weights = tmp_path / "m.gguf"
    weights.write_bytes(b"")  # only its existence is checked until the first call
    monkeypatch.setattr(llamacpp, "usable_cores", lambda: cores)
    backend = llamacpp.GGUFBackend(parse_model_spec(f"gguf:{weights}{params}"), home=tmp_path)
    assert (backend.instances, backend.threads) == expected


def test_bad_specs_name_the_problem(engine_home):
    with pytest.raises(UsageError, match="empty model spec"):
        parse_model_spec(" ")
    with pytest.raises(NotFound, match="unknown backend 'nosuch'"):
        open_engine(engine_home, specs=["nosuch:x"])
    with pytest.raises(UsageError, match="unknown parameter 'bogus'"):
        open_engine(engine_home, specs=["scripted?bogus=1"])
    with pytest.raises(UsageError, match="must be an integer"):
        open_engine(engine_home, specs=["scripted?attempts=many"])
    with pytest.raises(UsageError, match="openai:MODEL@http"):
        Engine(["openai:model"], home=engine_home)


def test_progress_prints_lines_and_summary_unless_quiet(engine_home):
    stream = io.StringIO()
    progress = Progress(stream, interval=0)
    with open_engine(engine_home, progress=progress) as engine:
        progress.start(total_rows=3)
        engine.models[0].complete(requests(3))
        progress.rows_done(3)
        numbers = progress.finish()
    assert numbers["calls"] == 3 and numbers["rows"] == 3
    printed = stream.getvalue()
    assert "rows 3/3" in printed and "build done: 3 rows, 3 model calls" in printed
    quiet = io.StringIO()
    progress = Progress(quiet, quiet=True)
    with open_engine(engine_home, progress=progress) as engine:
        engine.models[0].complete(requests(3))
        assert progress.finish()["cache_hits"] == 3
    assert quiet.getvalue() == ""


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_rewrites_one_line(engine_home):
    terminal = FakeTerminal()
    progress = Progress(terminal, interval=0)
    with open_engine(engine_home, progress=progress) as engine:
        progress.start(total_rows=2)
        engine.models[0].complete(requests(2))
        progress.rows_done(2)
        progress.finish()
    printed = terminal.getvalue()
    assert printed.count("\n") == 1 and printed.endswith("\n")
    assert printed.count("\r\x1b[2K") >= 3 and "cache hits 0" in printed


def test_planned_prefix_equals_the_prefix_of_the_joined_tokens():
    import random

    from datagen.engine.backends.llama_batch import planned_prefix, shared_prefix

    rng = random.Random(7)
    for _ in range(500):
        history = [rng.randint(0, 3) for _ in range(rng.randint(0, 6))]
        pending = [rng.randint(0, 3) for _ in range(rng.randint(0, 6))]
        joined = history + pending
        cut = rng.randint(0, len(joined))
        prompt = joined[:cut] + [rng.randint(0, 3) for _ in range(rng.randint(0, 4))]
        assert planned_prefix(history, pending, prompt) == shared_prefix(joined, prompt)


def test_a_step_is_cut_into_short_shared_calls_and_long_chunks_alone():
    import random

    from datagen.engine.backends.llama_batch import TILE_ROWS, Slot, cut_into_calls

    slots = [Slot(seq) for seq in range(6)]
    sizes = [1, 30, 100, 40, 1, TILE_ROWS]
    parts = [(slot, [7] * size, True) for slot, size in zip(slots, sizes, strict=True)]
    calls = cut_into_calls(parts)
    assert [[len(tokens) for _, tokens, _ in call] for call in calls] == [
        [100], [1, 30], [TILE_ROWS], [40, 1]]
    rng = random.Random(3)
    for _ in range(200):
        parts = [(Slot(seq), [7] * rng.choice([1, 1, 5, 20, 63, 64, 300]), True)
                 for seq in range(rng.randint(0, 12))]
        calls = cut_into_calls(parts)
        assert sorted(id(p) for call in calls for p in call) == sorted(map(id, parts))
        for call in calls:
            total = sum(len(tokens) for _, tokens, _ in call)
            assert total < TILE_ROWS or len(call) == 1
