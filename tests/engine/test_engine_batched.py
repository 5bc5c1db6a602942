"""Batched decoding on the real embedded model: many requests per llama_decode."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_helpers import embedded_path

from datagen.engine import Call, Engine, RawAnswer
from datagen.engine.backends.llama_sequence import Job
from datagen.llm import ChatRequest

pytestmark = pytest.mark.embedded

SCORE = {
    "type": "object",
    "properties": {"score": {"enum": [1, 2, 3, 4, 5]},
                   "reason": {"type": "string", "maxLength": 40}},
    "required": ["score", "reason"],
}
ANIMAL = {
    "type": "object",
    "properties": {"animal": {"type": "string", "maxLength": 20},
                   "legs": {"enum": [0, 2, 4, 6, 8]}},
    "required": ["animal", "legs"],
}
COUNT = "Count from 1 to 20, separated by commas."


@pytest.fixture(autouse=True)
def _needs_model():
    embedded_path()


def test_each_request_in_a_batch_keeps_its_schema_stops_and_max_tokens(engine_home):
    requests = [
        ChatRequest.chat("Rate 'Paris is in Spain' from 1 to 5 in JSON.", json_schema=SCORE,
                         max_tokens=48, temperature=0.7, seed=1),
        ChatRequest.chat("Name an animal and its number of legs in JSON.", json_schema=ANIMAL,
                         max_tokens=32, temperature=0.7, seed=2),
        ChatRequest.chat(COUNT, max_tokens=64, stop=("7",)),
        ChatRequest.chat(COUNT, max_tokens=64),
        ChatRequest.chat("Write a long story about a dragon.", max_tokens=3),
        ChatRequest.chat("Write a long story about a knight.", max_tokens=7, temperature=0.9,
                         seed=5),
    ]
    with Engine(["embedded?instances=1&slots=8"], home=engine_home) as engine:
        score, animal, stopped, counted, three, seven = engine.models[0].complete(requests)
    assert score.ok and set(score.data) == {"score", "reason"} and score.data["score"] in range(6)
    assert animal.ok and set(animal.data) == {"animal", "legs"} and len(animal.data["animal"]) <= 20
    assert stopped.ok and stopped.finish_reason == "stop" and "7" not in stopped.text
    assert "7" in counted.text and counted.text.startswith(stopped.text) and stopped.text
    assert (three.finish_reason, three.completion_tokens) == ("length", 3)
    assert (seven.finish_reason, seven.completion_tokens) == ("length", 7)


def test_one_bad_request_in_a_batch_fails_alone(engine_home):
    long_prompt = "Summarize this: " + "the quick brown fox jumps over the lazy dog " * 40
    requests = [
        ChatRequest.chat("Say hello.", max_tokens=8, seed=1),
        ChatRequest.chat(long_prompt, max_tokens=8),
        ChatRequest.chat("Reply in JSON.", json_schema={"type": "strange"}, max_tokens=8),
        ChatRequest.chat("Name an animal and its number of legs in JSON.", json_schema=ANIMAL,
                         max_tokens=32, seed=2),
    ]
    with Engine(["embedded?instances=1&slots=4&n_ctx=256"], home=engine_home) as engine:
        hello, too_long, bad_schema, animal = engine.models[0].complete(requests)
        assert engine.counters.failures == 2
    assert hello.ok and hello.text and animal.ok and animal.data["legs"] in (0, 2, 4, 6, 8)
    assert not too_long.ok and "raise n_ctx" in too_long.error and "256" in too_long.error
    assert not bad_schema.ok and "Unrecognized schema" in bad_schema.error


LONG_KEYS = {
    "type": "object",
    "properties": {"name_of_the_animal_being_described": {"type": "string", "maxLength": 20},
                   "number_of_legs_that_the_animal_has": {"enum": [0, 2, 4, 6, 8]}},
    "required": ["name_of_the_animal_being_described", "number_of_legs_that_the_animal_has"],
}


def test_text_the_grammar_forces_is_decoded_without_sampling():
    """Keys, colons and quotes that the schema fixes are fed in as a chunk: fewer decoding
    steps than answer tokens, valid JSON in json.dumps's layout, the same answer every time."""
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_model import LoadedModel

    request = ChatRequest.chat("Describe a spider in JSON.", json_schema=LONG_KEYS,
                               max_tokens=48, temperature=0.7, seed=3)
    model = LoadedModel(embedded_path())
    answers, steps = [], []
    for _ in range(2):
        decoder = BatchDecoder(model, slots=1, n_ctx=512, threads=1)
        done: list[RawAnswer] = []
        decoder.admit(Job(Call(request, request.seed), done.append))
        count = 0
        while decoder.busy:
            decoder.step()
            count += 1
        decoder.close()
        answers.append(done[0])
        steps.append(count)
    model.close()
    answer = answers[0]
    data = json.loads(answer.text)
    assert set(data) == set(LONG_KEYS["required"]) and answer.finish_reason == "stop"
    assert answer.text == json.dumps(data, ensure_ascii=False)
    # the two long keys alone are over 20 tokens; reading them costs no sampling steps
    assert steps[0] <= answer.completion_tokens - 20
    assert answers[1].text == answer.text and steps[1] == steps[0]


def test_forced_text_keeps_max_tokens_and_stop_strings():
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_model import LoadedModel

    ask = "Describe a spider in JSON."
    requests = [
        ChatRequest.chat(ask, json_schema=LONG_KEYS, max_tokens=4),
        ChatRequest.chat(ask, json_schema=LONG_KEYS, max_tokens=48, stop=("number_of",)),
    ]
    model = LoadedModel(embedded_path())
    decoder = BatchDecoder(model, slots=2, n_ctx=512, threads=1)
    answers: dict[int, RawAnswer] = {}
    in_opening = ChatRequest.chat(ask, json_schema=LONG_KEYS, max_tokens=48, stop=("being",))
    decoder.admit(Job(Call(in_opening, 0), lambda a: answers.__setitem__(2, a)))
    assert not decoder.busy  # its stop string is in the text every answer opens with
    assert (answers[2].text, answers[2].finish_reason) == ('{"name_of_the_animal_', "stop")
    for i, request in enumerate(requests):
        decoder.admit(Job(Call(request, 0), lambda a, i=i: answers.__setitem__(i, a)))
    while decoder.busy:
        decoder.step()
    decoder.close()
    model.close()
    short, stopped = answers[0], answers[1]
    assert (short.finish_reason, short.completion_tokens) == ("length", 4)
    assert short.text.startswith('{"name_of')
    assert stopped.finish_reason == "stop" and "number_of" not in stopped.text
    assert stopped.text.startswith('{"name_of_the_animal_being_described": "')


def mixed_requests() -> list[ChatRequest]:
    system = "You are a careful assistant. " * 20  # a long shared prefix
    return [ChatRequest.chat(f"Write one sentence about the number {i}.", max_tokens=12,
                             temperature=0.0 if i % 3 == 0 else 0.8, seed=i,
                             system=system if i % 2 else None) for i in range(7)]


def decode_all(decoder, calls: list[Call]) -> list[str]:
    from datagen.engine.backends.llama_sequence import Job

    answers: dict[int, str] = {}
    jobs = [Job(call, lambda a, i=i: answers.__setitem__(i, a.text))
            for i, call in enumerate(calls)]
    while jobs or decoder.busy:
        while jobs and decoder.free_slots:
            decoder.admit(jobs.pop(0))
        decoder.step()
    return [answers[i] for i in range(len(calls))]


def test_shared_prompt_prefixes_are_reused_without_changing_answers():
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_model import LoadedModel

    model = LoadedModel(embedded_path())
    calls = [Call(r, r.seed) for r in mixed_requests()]
    fresh = []
    for call in calls:  # a new context per call: nothing to reuse
        decoder = BatchDecoder(model, slots=1, n_ctx=512, threads=1)
        fresh.extend(decode_all(decoder, [call]))
        assert decoder.prompt_tokens_reused == 0
        decoder.close()
    decoder = BatchDecoder(model, slots=3, n_ctx=512, threads=1)
    reused = decode_all(decoder, calls)
    assert decoder.prompt_tokens_shared > 0 and decoder.prompt_tokens_reused > 150
    decoder.close()
    model.close()
    # A reused or shared prefix gives the same KV values; where the new tokens land in the
    # cache can change the order of a sum and, rarely, a sampled token (docs/architecture.md).
    # Broken sharing would change every answer that uses it.
    assert all(reused) and sum(a == b for a, b in zip(reused, fresh, strict=True)) >= 5


def test_requests_sent_together_read_their_shared_prefix_once():
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_model import LoadedModel

    context = "Here is a long shared context about numbers and their properties. " * 12
    requests = [ChatRequest.chat(f"{context}\nNow name one property of {n}.", max_tokens=8,
                                 temperature=0.0) for n in (3, 4, 5, 6)]
    calls = [Call(r, 0) for r in requests]
    model = LoadedModel(embedded_path())
    alone = []
    for call in calls:
        decoder = BatchDecoder(model, slots=1, n_ctx=512, threads=1)
        alone.extend(decode_all(decoder, [call]))
        decoder.close()
    decoder = BatchDecoder(model, slots=4, n_ctx=512, threads=1)
    answers: dict[int, str] = {}
    for i, call in enumerate(calls):  # all admitted before the first step: three wait
        decoder.admit(Job(call, lambda a, i=i: answers.__setitem__(i, a.text)))
    assert len(decoder.waiting) == 3 and decoder.free_slots == 0
    while decoder.busy:
        decoder.step()
    shared = len(model.prompt_tokens([{"role": "user", "content": context}])) - 10
    assert decoder.prompt_tokens_shared >= 3 * shared
    decoder.close()
    model.close()
    together = [answers[i] for i in range(4)]
    assert all(together)
    # as above: a shared prefix holds the same values; rarely a summing order flips a token
    assert sum(a == b for a, b in zip(together, alone, strict=True)) >= 3


def test_a_step_keeps_prompt_chunks_out_of_the_calls_that_share_a_pass():
    """Calls below 64 tokens may mix sequences; a longer prompt chunk is a call alone."""
    from datagen.engine.backends.llama_batch import TILE_ROWS, BatchDecoder
    from datagen.engine.backends.llama_model import LoadedModel

    long = [ChatRequest.chat(f"{topic} " * 40 + "\nSay one word about it.", max_tokens=6,
                             temperature=0.0) for topic in ("harbours", "orchards", "comets")]
    short = [ChatRequest.chat(f"Name an animal with {n} legs.", max_tokens=24, seed=n,
                              json_schema=ANIMAL) for n in range(5)]
    model = LoadedModel(embedded_path())
    decoder = BatchDecoder(model, slots=8, n_ctx=512, threads=1)
    plans = []
    plan = decoder._plan

    def recorded():
        calls = plan()
        plans.append([[len(tokens) for _, tokens, _ in call] for call in calls])
        return calls

    decoder._plan = recorded  # type: ignore[method-assign]
    answers = decode_all(decoder, [Call(r, r.seed) for r in (*short, *long)])
    decoder.close()
    model.close()
    assert all(answers)
    assert all(json.loads(a)["legs"] in (0, 2, 4, 6, 8) for a in answers[:5])
    calls = [call for step in plans for call in step]
    for call in calls:
        assert len(call) == 1 or sum(call) < TILE_ROWS
    assert any(len(step) > 1 and any(max(call) >= TILE_ROWS for call in step)
               for step in plans)  # a step that read a prompt beside the others' tokens
    assert any(len(call) > 1 for call in calls)  # and sequences sharing a pass


def test_llama_cpp_logs_its_errors_but_not_its_warnings(capfd):
    from datagen.engine.backends import llama_model
    from datagen.engine.backends.llama_batch import BatchDecoder

    model = llama_model.LoadedModel(embedded_path())
    # 8 x 2048 cells in one cache: llama.cpp warns that this exceeds the training context
    BatchDecoder(model, slots=8, n_ctx=2048, threads=1).close()
    model.close()
    assert capfd.readouterr().err == ""
    log = llama_model._LOG
    assert log is not None
    log._log(llama_model.LOG_ERROR, b"llama.cpp failed: ", None)
    log._log(llama_model.LOG_CONTINUED, b"because\n", None)
    log._log(3, b"a warning\n", None)
    assert capfd.readouterr().err == "llama.cpp failed: because\n"


def test_a_prompt_that_left_its_slot_is_restored_from_the_prefix_store():
    """One slot, and two other prompts in between: the slot's KV no longer holds the
    shared context, the store does, and a second context of the same model finds it."""
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_model import LoadedModel
    from datagen.engine.backends.llama_prefixes import PrefixStore

    context = "A long case file about the harbours of the Baltic Sea and their ships. " * 10
    first, second = (ChatRequest.chat(f"{context}\nName {what}.", max_tokens=8,
                                      temperature=0.0) for what in ("one harbour", "one ship"))
    between = [ChatRequest.chat(f"Count from {n} to {n + 9}.", max_tokens=8) for n in (1, 2)]
    model = LoadedModel(embedded_path())
    plain = BatchDecoder(model, slots=1, n_ctx=512, threads=1)
    expected = decode_all(plain, [Call(second, 0)])
    plain.close()
    store = PrefixStore(model.lib, 64 << 20)
    writer = BatchDecoder(model, slots=1, n_ctx=512, threads=1, prefixes=store)
    decode_all(writer, [Call(r, 0) for r in (first, *between)])
    assert writer.prompt_tokens_restored == 0 and len(store) == 1  # short prompts not kept
    reader = BatchDecoder(model, slots=1, n_ctx=512, threads=1, prefixes=store)
    answer = decode_all(reader, [Call(second, 0)])
    shared = len(model.prompt_tokens([{"role": "user", "content": context}])) - 10
    assert reader.prompt_tokens_restored >= shared
    writer.close()
    reader.close()
    model.close()
    assert answer == expected  # restored KV holds the values the prompt would have given


def test_the_prefix_store_keeps_its_byte_budget_and_drops_covered_prompts():
    from datagen.engine.backends.llama_batch import BatchDecoder
    from datagen.engine.backends.llama_model import LoadedModel
    from datagen.engine.backends.llama_prefixes import PrefixStore

    model = LoadedModel(embedded_path())
    decoder = BatchDecoder(model, slots=1, n_ctx=512, threads=1)
    base = "Notes on the weather in several mountain villages over one long year. " * 6
    prompts = [base, base + "More notes about the rivers below those villages. " * 6]
    sizes = []
    for text in prompts:
        decode_all(decoder, [Call(ChatRequest.chat(text, max_tokens=1), 0)])
        store = PrefixStore(model.lib, 1 << 30)
        store.keep(decoder.context.ctx, 0, decoder.slots[0].history)
        sizes.append(store.bytes)
    store = PrefixStore(model.lib, sizes[1] + sizes[0] // 2)  # room for the longer one only
    for text in prompts:
        decode_all(decoder, [Call(ChatRequest.chat(text, max_tokens=1), 0)])
        store.keep(decoder.context.ctx, 0, decoder.slots[0].history)
    tokens = decoder.slots[0].history
    assert len(store) == 1 and store.bytes == sizes[1] <= store.budget_bytes
    assert store.longest(tokens)[1] == len(tokens)
    full = PrefixStore(model.lib, 1 << 30)
    for text in reversed(prompts):  # the shorter one is covered by the longer one
        decode_all(decoder, [Call(ChatRequest.chat(text, max_tokens=1), 0)])
        if full.wants(decoder.slots[0].history):
            full.keep(decoder.context.ctx, 0, decoder.slots[0].history)
    assert len(full) == 1 and full.bytes == sizes[1]
    # least recently restored goes first; looking an entry up does not count as a use
    others = ["A list of harbours along a northern coast and their lighthouses. " * 6,
              "Recipes for bread from three regions, with their flours and ovens. " * 6]
    lru = PrefixStore(model.lib, 2 * sizes[0] + sizes[0] // 2)
    kept = []
    for text in others:
        decode_all(decoder, [Call(ChatRequest.chat(text, max_tokens=1), 0)])
        lru.keep(decoder.context.ctx, 0, decoder.slots[0].history)
        kept.append(list(decoder.slots[0].history))
    first, _ = lru.longest(kept[0])
    assert first is not None and lru.restore(decoder.context.ctx, first, 0)
    lru.longest(kept[1])
    decode_all(decoder, [Call(ChatRequest.chat(prompts[0], max_tokens=1), 0)])
    lru.keep(decoder.context.ctx, 0, decoder.slots[0].history)
    assert len(lru) == 2
    assert lru.longest(kept[0])[1] == len(kept[0]) and lru.longest(kept[1])[1] < len(kept[1])
    decoder.close()
    model.close()


def test_the_build_counts_prompt_tokens_read_from_the_kv_cache(engine_home):
    context = "A long shared context about the rivers of Europe and their bridges. " * 10
    with Engine(["embedded?instances=1&slots=2"], home=engine_home) as engine:
        first, second = engine.models[0].complete([
            ChatRequest.chat(f"{context}\nName one river.", max_tokens=4),
            ChatRequest.chat(f"{context}\nName one bridge.", max_tokens=4)])
        reused = engine.counters.extra.get("prompt_tokens_reused", 0)
    assert first.ok and second.ok
    assert reused >= 100  # the second read the shared context from the first one's cache
    assert reused < engine.counters.prompt_tokens


def test_top_k_of_one_or_a_tiny_top_p_samples_the_greedy_answer(engine_home):
    prompt = "Write one sentence about rivers."
    with Engine(["embedded?instances=1"], home=engine_home) as engine:
        greedy, hot_top1, hot_top_p, hot = engine.models[0].complete([
            ChatRequest.chat(prompt, max_tokens=16, temperature=0.0),
            ChatRequest.chat(prompt, max_tokens=16, temperature=1.5, top_k=1, seed=3),
            ChatRequest.chat(prompt, max_tokens=16, temperature=1.5, top_p=0.001, seed=3),
            ChatRequest.chat(prompt, max_tokens=16, temperature=1.5, seed=3),
        ])
    assert hot_top1.text == greedy.text  # top-k 1 leaves only the likeliest token
    assert hot_top_p.text == greedy.text  # so does a nucleus of 0.1% of the mass
    assert hot.text != greedy.text  # without either, temperature 1.5 wanders


KILLABLE_BUILD = """
import json, sys
from pathlib import Path
from datagen.engine import Engine
from datagen.llm import ChatRequest
home, out = Path(sys.argv[1]), Path(sys.argv[2])
requests = [ChatRequest.chat(f"Write a sentence about the number {i}.", max_tokens=8 + 4 * i,
                             temperature=0.8, seed=i) for i in range(12)]
with Engine(["embedded?instances=1&slots=3"], home=home) as engine:
    texts = [a.text for a in engine.models[0].complete(requests)]
    calls = engine.counters.calls
out.write_text(json.dumps({"texts": texts, "calls": calls}))
"""


def cached_calls(home: Path) -> int:
    path = home / "cache" / "calls.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT count(*) FROM calls").fetchone()[0]
        except sqlite3.OperationalError:  # table not created yet
            return 0


def stored_answers(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "cache" / "calls.sqlite") as db:
        return dict(db.execute("SELECT key, text FROM calls").fetchall())


def build(home: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KILLABLE_BUILD, str(home), str(out)],
                            env={**os.environ, "DATAGEN_HOME": str(home)})


def test_sigkill_mid_batch_loses_only_unfinished_calls(tmp_path):
    home, out = tmp_path / "killed", tmp_path / "out.json"
    process = build(home, out)
    deadline = time.monotonic() + 300
    while cached_calls(home) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = cached_calls(home)
    finished = stored_answers(home).items()
    assert 3 <= done < 12 and len(finished) == done and not out.exists()
    assert build(home, out).wait(timeout=300) == 0
    resumed = json.loads(out.read_text())
    assert resumed["calls"] == 12 - done and cached_calls(home) == 12
    assert set(finished) <= set(stored_answers(home).items())  # kept, not made again


def test_plain_answers_match_llama_cpp_pythons_own_chat_completion(engine_home):
    from llama_cpp import Llama

    requests = [ChatRequest.chat(f"Write one sentence about the number {i}.", max_tokens=16,
                                 temperature=0.0 if i == 0 else 0.8, seed=i) for i in range(3)]
    llm = Llama(model_path=str(embedded_path()), n_ctx=512, n_threads=1, flash_attn=True,
                verbose=False)
    plain = []
    for request in requests:
        llm.reset()
        reply = llm.create_chat_completion(
            [m.as_dict() for m in request.messages], max_tokens=request.max_tokens,
            temperature=request.temperature, top_p=request.top_p, seed=request.seed)
        plain.append(reply["choices"][0]["message"]["content"])
    llm.close()
    # the same file on both sides (datagen would otherwise decode its Q8_0 copy)
    with Engine(["embedded?instances=1&slots=4&convert=none"], home=engine_home) as engine:
        batched = [a.text for a in engine.models[0].complete(requests)]
    assert batched == plain


class CountingDecoder:
    """Stands in for a llama.cpp context: each step answers every admitted job.

    Only for the pool's scheduling logic; ``step`` waits until both workers are decoding,
    so it times out when one worker keeps the whole queue to itself.
    """

    def __init__(self, barrier):
        self.barrier, self.jobs, self.admitted, self.steps = barrier, [], 0, 0
        self.free_slots, self.busy = 8, False

    def admit(self, job):
        self.jobs.append(job)
        self.admitted += 1
        self.free_slots, self.busy = 8 - len(self.jobs), True

    def step(self):
        self.steps += 1
        if self.steps == 1:
            self.barrier.wait(timeout=10)
        self.fail_all(None)

    def fail_all(self, error):
        for job in self.jobs:
            job.finish(RawAnswer(text="ok", error=error))
        self.jobs, self.free_slots, self.busy = [], 8, False

    def close(self):
        pass


def test_a_short_queue_is_shared_between_workers():
    import threading

    from datagen.engine.backends.llama_pool import Countdown, DecoderPool
    from datagen.engine.backends.llama_sequence import Job

    barrier = threading.Barrier(2)
    decoders = []

    def open_decoder():
        decoders.append(CountingDecoder(barrier))
        return decoders[-1]

    pool = DecoderPool(open_decoder, instances=2)
    countdown, answers = Countdown(4), []
    request = ChatRequest.chat("unused")
    pool.submit([Job(Call(request, i), lambda a: countdown.deliver(lambda: answers.append(a)))
                 for i in range(4)])
    countdown.wait()
    pool.close()
    assert [a.error for a in answers] == [None] * 4  # no step timed out waiting alone
    assert sorted(d.admitted for d in decoders)[0] >= 1 and sum(d.admitted for d in decoders) == 4


def test_calls_from_concurrent_answers_join_a_batch_in_flight(engine_home):
    """Continuous batching: with two slots, short calls sent while a long one generates are
    admitted and answered beside it, not after it."""
    import threading

    counting = ChatRequest.chat("Count from 1 to 100, separated by commas.", max_tokens=96,
                                temperature=0.0)
    short = [ChatRequest.chat(f"Name a colour ({i}).", max_tokens=4, seed=i) for i in range(3)]
    finished: list[str] = []
    with Engine(["embedded?instances=1&slots=2"], home=engine_home, use_cache=False) as engine:
        model = engine.models[0]
        model.complete([ChatRequest.chat("Say hi.", max_tokens=1)])  # loaded before timing

        def send(name: str, requests: list[ChatRequest]) -> None:
            answers = model.complete(requests)
            assert all(a.ok for a in answers)
            finished.append(name)

        long_one = threading.Thread(target=send, args=("long", [counting]))
        long_one.start()
        time.sleep(0.3)  # the long call is generating
        send("short", short)
        long_one.join(timeout=120)
    assert finished == ["short", "long"]


def test_the_prefix_store_serves_a_prompt_that_left_its_slot_unless_turned_off(engine_home):
    context = "A long case file about the harbours of the Baltic Sea and their ships. " * 10
    first, second = (ChatRequest.chat(f"{context}\nName {what}.", max_tokens=4,
                                      temperature=0.0) for what in ("one harbour", "one ship"))
    between = [ChatRequest.chat(f"Count from {n} to {n + 9}.", max_tokens=4) for n in (1, 2)]
    reused = {}
    for spec in ("embedded?instances=1&slots=1", "embedded?instances=1&slots=1&prefix_mb=0"):
        with Engine([spec], home=engine_home, use_cache=False) as engine:
            model = engine.models[0]
            model.complete([first])
            model.complete(between)  # the one slot now holds other prompts
            before = engine.counters.extra.get("prompt_tokens_reused", 0)
            assert model.complete([second])[0].ok
            reused[spec] = engine.counters.extra.get("prompt_tokens_reused", 0) - before
    with_store, without = reused.values()
    assert with_store >= without + 100  # the shared case file came back from the store
