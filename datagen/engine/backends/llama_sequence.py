"""One request being decoded: its sampler, its output so far, and when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from datagen.engine.backend import Call, RawAnswer
from datagen.engine.backends.llama_model import LoadedModel
from datagen.engine.backends.llama_sampling import TokenSampler


@dataclass
class Job:
    """A call waiting for a slot, and where its answer goes."""

    call: Call
    finish: Callable[[RawAnswer], None]


class Generation:
    """The decoding state of one job in one slot."""

    def __init__(self, job: Job, model: LoadedModel, prompt: list[int], reused: int):
        self.job = job
        self.started = time.perf_counter()  # admitted: time in the queue does not count
        self.model = model
        self.prompt = prompt
        self.pending = prompt[reused:]  # prompt tokens not in the KV cache yet
        self.reused = reused
        self.next_token: int | None = None  # sampled, not yet decoded
        self.generated = 0
        self.text = bytearray()
        self.finish_reason: str | None = None
        request = job.call.request
        self.max_tokens = request.max_tokens
        self.stops = [s.encode("utf-8") for s in request.stop if s]
        self.sampler: TokenSampler | None = TokenSampler(model, job.call)

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
            seconds=time.perf_counter() - self.started,
            reused_prompt_tokens=self.reused,
        )

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None
