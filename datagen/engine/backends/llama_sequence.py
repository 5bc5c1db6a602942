"""One request being decoded: its sampler chain, its output so far, and when it ends.

Each request gets its own llama.cpp sampler chain (grammar, top-k, top-p, min-p,
temperature, then a seeded draw), so requests decoded side by side in one batch keep their
own parameters and random streams.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datagen.engine.backend import Call, RawAnswer
from datagen.engine.backends.llama_model import LoadedModel

# The high-level llama-cpp-python defaults that ChatRequest does not set.
TOP_K = 40
MIN_P = 0.05
LLAMA_RANDOM_SEED = 0xFFFFFFFF  # llama.cpp reads this seed as "pick one at random"


@dataclass
class Job:
    """A call waiting for a slot, and where its answer goes."""

    call: Call
    finish: Callable[[RawAnswer], None]
    queued: float = field(default_factory=time.perf_counter)


class Generation:
    """The decoding state of one job in one slot."""

    def __init__(self, job: Job, model: LoadedModel, prompt: list[int], reused: int):
        self.job = job
        self.model = model
        self.prompt = prompt
        self.pending = prompt[reused:]  # prompt tokens not in the KV cache yet
        self.next_token: int | None = None  # sampled, not yet decoded
        self.generated = 0
        self.text = bytearray()
        self.finish_reason: str | None = None
        request = job.call.request
        self.max_tokens = request.max_tokens
        self.stops = [s.encode("utf-8") for s in request.stop if s]
        self.sampler = sampler_chain(model, job.call)

    def accept(self, token: int, room_left: bool) -> bool:
        """Take one sampled token; True when the answer is complete."""
        if self.model.is_end(token):
            self.finish_reason = "stop"
            return True
        self.generated += 1
        piece = self.model.piece(token)
        self.text += piece
        if self._cut_at_stop(len(piece)):
            self.finish_reason = "stop"
        elif self.generated >= self.max_tokens or not room_left:
            self.finish_reason = "length"
        else:
            self.next_token = token
            return False
        return True

    def _cut_at_stop(self, new_bytes: int) -> bool:
        for stop in self.stops:
            at = self.text.find(stop, max(0, len(self.text) - new_bytes - len(stop) + 1))
            if at >= 0:
                del self.text[at:]
                return True
        return False

    def answer(self) -> RawAnswer:
        return RawAnswer(
            text=self.text.decode("utf-8", errors="ignore"),
            finish_reason=self.finish_reason or "stop",
            prompt_tokens=len(self.prompt),
            completion_tokens=self.generated,
            seconds=time.perf_counter() - self.job.queued,
        )

    def close(self) -> None:
        if self.sampler is not None:
            self.model.lib.llama_sampler_free(self.sampler)
            self.sampler = None


def sampler_chain(model: LoadedModel, call: Call) -> Any:
    """A fresh chain for one call; raises ValueError for a schema llama.cpp cannot use."""
    lib, request = model.lib, call.request
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    try:
        if request.json_schema is not None:
            grammar = model.grammar(request.json_schema)
            sampler = lib.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
            if not sampler:
                raise ValueError("llama.cpp rejected the grammar made from the JSON schema")
            lib.llama_sampler_chain_add(chain, sampler)
        for sampler in _draw_samplers(lib, request.temperature, request.top_p, call.seed):
            lib.llama_sampler_chain_add(chain, sampler)
    except BaseException:
        lib.llama_sampler_free(chain)
        raise
    return chain


def _draw_samplers(lib: Any, temperature: float, top_p: float, seed: int) -> list[Any]:
    if temperature <= 0:
        return [lib.llama_sampler_init_greedy()]
    return [
        lib.llama_sampler_init_top_k(TOP_K),
        lib.llama_sampler_init_top_p(top_p, 1),
        lib.llama_sampler_init_min_p(MIN_P, 1),
        lib.llama_sampler_init_temp(temperature),
        lib.llama_sampler_init_dist(draw_seed(seed)),
    ]


def draw_seed(seed: int) -> int:
    """A request seed as llama.cpp's 32-bit seed, never its "random" value."""
    value = seed & 0xFFFFFFFF
    return value - 1 if value == LLAMA_RANDOM_SEED else value
