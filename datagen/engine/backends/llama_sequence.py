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

    def __init__(self, job: Job, model: LoadedModel, prompt: list[int], reused: int,
                 room: int):
        """``room``: tokens the context can take after the prompt."""
        self.job = job
        # admitted (prompts are read in this order; time in the queue does not count)
        self.started = time.perf_counter()
        self.model = model
        self.prompt = prompt
        # to decode before the next sample: the prompt's unread part, or forced text
        self.pending = prompt[reused:]
        self.reused = reused
        self.next_token: int | None = None  # sampled, not yet decoded
        self.generated = 0
        self.text = bytearray()
        self.finish_reason: str | None = None
        request = job.call.request
        self.max_tokens = request.max_tokens
        self.stops = [s.encode("utf-8") for s in request.stop if s]
        self.sampler: TokenSampler | None = TokenSampler(model, job.call)
        # an answer that must open with fixed text ('{"key":') gets it with the prompt
        try:
            opening, _ = self.sampler.forced(b"", min(self.max_tokens, room) - 1)
        except BaseException:
            self.close()
            raise
        if self._take(opening):
            self.finish_reason = "stop"  # a stop string in it: answered without decoding
        self.pending += opening

    def accept(self, token: int, room: int) -> bool:
        """Take one sampled token and the text the grammar forces after it; True when the
        answer is complete. ``room``: tokens the context can take after this one."""
        if self.model.is_end(token):
            self.finish_reason = "stop"
            return True
        assert self.sampler is not None
        limit = min(self.max_tokens - self.generated - 1, room - 1)
        forced, ended = self.sampler.forced(self.model.piece(token), limit)
        if self._take([token, *forced]):
            self.finish_reason = "stop"
        elif ended:
            self.finish_reason = "stop"  # the grammar allows nothing but the end
        elif self.generated >= self.max_tokens or room <= len(forced):
            # out of tokens, unless the last one closed the JSON
            self.finish_reason = "stop" if self.sampler.complete() else "length"
        elif forced:
            self.pending = [token, *forced]  # decoded as one chunk, sampled after the last
            return False
        else:
            self.next_token = token
            return False
        return True

    def _take(self, tokens: list[int]) -> bool:
        """Add tokens to the answer; True when a stop string ended it."""
        for token in tokens:
            self.generated += 1
            piece = self.model.piece(token)
            self.text += piece
            if self._cut_at_stop(len(piece)):
                return True
        return False

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
