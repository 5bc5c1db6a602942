"""Edges of the llama.cpp backend: long tokens, grammar choices outside ASCII, contexts
that fail to open, a pool used after closing, a prefix store that fails, read order."""

from __future__ import annotations

import threading
import time

import pytest
from engine_helpers import embedded_path

from datagen.engine import Call, RawAnswer
from datagen.engine.backends.llama_pool import Countdown, DecoderPool
from datagen.engine.backends.llama_sequence import Job
from datagen.llm import ChatRequest

DASHES = "-" * 64  # one token of the embedded model's vocabulary, 64 bytes long


@pytest.fixture(scope="module")
def model():
    from datagen.engine.backends.llama_model import LoadedModel

    embedded_path()
    loaded = LoadedModel(embedded_path())
    yield loaded
    loaded.close()


def run(decoder, requests: list[ChatRequest]) -> list[RawAnswer]:
    answers: dict[int, RawAnswer] = {}
    for i, request in enumerate(requests):
        decoder.admit(Job(Call(request, request.seed),
                          lambda a, i=i: answers.__setitem__(i, a)))
    while decoder.busy:
        decoder.step()
    return [answers[i] for i in range(len(requests))]


@pytest.mark.embedded
def test_tokens_longer_than_32_bytes_keep_their_text(model):
    from datagen.engine.backends.llama_batch import BatchDecoder

    tokens = model.text_tokens(DASHES.encode())
    assert max(len(model.piece(t)) for t in tokens) > 32
    assert b"".join(model.piece(t) for t in tokens) == DASHES.encode()
    schema = {"type": "object", "properties": {"rule": {"const": DASHES}}, "required": ["rule"]}
    decoder = BatchDecoder(model, slots=1, n_ctx=512, threads=1)
    [answer] = run(decoder, [ChatRequest.chat("Draw a rule in JSON.", json_schema=schema,
                                              max_tokens=32)])
    decoder.close()
    assert answer.text == '{"rule": "' + DASHES + '"}'


def forced_text(model, schema: dict) -> tuple[str, bool]:
    from datagen.engine.backends.llama_sampling import TokenSampler

    request = ChatRequest.chat("Answer in JSON.", json_schema=schema, max_tokens=64)
    sampler = TokenSampler(model, Call(request, 0))
    tokens, ended = sampler.forced(b"", 64)
    sampler.close()
    return b"".join(model.piece(t) for t in tokens).decode(), ended


@pytest.mark.embedded
def test_a_grammar_choice_outside_ascii_is_sampled_not_forced(model):
    def level(*values: str) -> dict:
        return {"type": "object", "properties": {"level": {"enum": list(values)}},
                "required": ["level"]}

    assert forced_text(model, level("bas")) == ('{"level": "bas"}', True)
    assert forced_text(model, level("élevé", "bas")) == ('{"level": "', False)
    assert forced_text(model, level("bas", "bof")) == ('{"level": "b', False)


@pytest.mark.embedded
def test_a_failing_prefix_store_still_answers_the_call(model):
    from datagen.engine.backends.llama_batch import BatchDecoder

    class FailingStore:
        def longest(self, prompt):
            return None, 0

        def wants(self, prompt):
            return True

        def keep(self, ctx, seq, prompt):
            raise MemoryError("no room for the prompt")

    decoder = BatchDecoder(model, slots=1, n_ctx=512, threads=1, prefixes=FailingStore())
    answers: list[RawAnswer] = []
    decoder.admit(Job(Call(ChatRequest.chat("Say hello.", max_tokens=4), 0), answers.append))
    with pytest.raises(MemoryError):
        while decoder.busy:
            decoder.step()
    decoder.close()
    assert len(answers) == 1 and answers[0].error is None and answers[0].text


@pytest.mark.embedded
def test_prompts_are_read_in_the_order_they_were_admitted(model):
    """The oldest prompt being read takes the step's room, whatever slot it is in."""
    from datagen.engine.backends.llama_batch import BatchDecoder

    decoder = BatchDecoder(model, slots=2, n_ctx=1024, threads=1, n_batch=64)
    long_prompt = "Here is a long report on the weather of every month of the year. " * 12
    answers: list[RawAnswer] = []
    short = ChatRequest.chat("Say hi.", max_tokens=1)
    decoder.admit(Job(Call(short, 0), answers.append))  # slot 0
    decoder.admit(Job(Call(ChatRequest.chat(long_prompt + "Summarize it.", max_tokens=4), 0),
                      answers.append))  # slot 1
    while not answers:
        decoder.step()
    older = decoder.slots[1].generation
    assert decoder.slots[0].generation is None and older is not None and older.pending
    decoder.admit(Job(Call(ChatRequest.chat("Other text entirely, about ships and harbours."
                                            * 12, max_tokens=4), 0), answers.append))
    newer = decoder.slots[0].generation  # the free slot, ahead of the older one by index
    assert newer is not None
    before = len(older.pending), len(newer.pending)
    decoder.step()
    assert len(older.pending) < before[0] and len(newer.pending) == before[1]
    decoder.close()


class AnsweringDecoder:
    """Stands in for a llama.cpp context (pool scheduling only): each step answers every
    admitted job with the decoder's name."""

    def __init__(self, name: str, delay: float = 0.0):
        self.name, self.delay, self.jobs, self.free_slots, self.busy = name, delay, [], 8, False

    def admit(self, job):
        self.jobs.append(job)
        self.free_slots, self.busy = 8 - len(self.jobs), True

    def step(self):
        time.sleep(self.delay)
        self.fail_all(None)

    def fail_all(self, error):
        for job in self.jobs:
            job.finish(RawAnswer(text=self.name, error=error))
        self.jobs, self.free_slots, self.busy = [], 8, False

    def close(self):
        pass


def submit_and_wait(pool: DecoderPool, count: int) -> list[RawAnswer]:
    """Submit ``count`` jobs and wait for their answers (failing, not hanging, when some
    never come)."""
    countdown, answers = Countdown(count), []
    request = ChatRequest.chat("unused")
    pool.submit([Job(Call(request, i), lambda a: countdown.deliver(lambda: answers.append(a)))
                 for i in range(count)])
    waiter = threading.Thread(target=countdown.wait, daemon=True)
    waiter.start()
    waiter.join(timeout=30)
    assert not waiter.is_alive(), f"{count - len(answers)} of {count} jobs never answered"
    return answers


def test_a_context_that_fails_to_open_leaves_its_jobs_to_the_others():
    jobs_queued = threading.Event()
    opened, lock = [], threading.Lock()

    def open_decoder():
        with lock:
            first = not opened
            opened.append(first)
        if first:
            jobs_queued.wait(timeout=10)  # fail while jobs wait in the queue
            raise RuntimeError("out of memory for the KV cache")
        return AnsweringDecoder("working", delay=0.2)  # slow: jobs are still queued

    pool = DecoderPool(open_decoder, instances=2)
    threading.Timer(0.1, jobs_queued.set).start()
    answers = submit_and_wait(pool, 12)
    pool.close()
    assert [(a.error, a.text) for a in answers] == [(None, "working")] * 12


def test_when_no_context_opens_every_job_gets_the_error():
    def open_decoder():
        raise RuntimeError("out of memory for the KV cache")

    pool = DecoderPool(open_decoder, instances=2)
    answers = submit_and_wait(pool, 5)
    pool.close()
    assert [a.error for a in answers] == ["out of memory for the KV cache"] * 5


def test_jobs_submitted_after_close_are_answered():
    pool = DecoderPool(lambda: AnsweringDecoder("working"), instances=1)
    assert [a.text for a in submit_and_wait(pool, 2)] == ["working"] * 2
    pool.close()
    answers = submit_and_wait(pool, 3)  # would wait forever in a queue nobody reads
    assert [a.error for a in answers] == ["the model was closed"] * 3


@pytest.mark.embedded
def test_json_that_closes_on_its_last_allowed_token_is_complete(model):
    from datagen.engine.backends.llama_batch import BatchDecoder

    schema = {"type": "object", "properties": {"word": {"enum": ["harbour"]}},
              "required": ["word"]}
    exact = len(model.text_tokens(b'{"word": "harbour"}'))
    decoder = BatchDecoder(model, slots=2, n_ctx=512, threads=1)
    fits, cut = run(decoder, [
        ChatRequest.chat("Answer in JSON.", json_schema=schema, max_tokens=exact),
        ChatRequest.chat("Answer in JSON.", json_schema=schema, max_tokens=exact - 1)])
    decoder.close()
    assert (fits.text, fits.finish_reason) == ('{"word": "harbour"}', "stop")
    assert cut.finish_reason == "length" and cut.text != fits.text
