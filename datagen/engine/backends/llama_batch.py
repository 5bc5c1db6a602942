"""Batched decoding on one llama.cpp context: many sequences per ``llama_decode``.

A ``BatchDecoder`` owns one context with ``slots`` sequences in one KV cache. Every step
decodes the next token of every generating sequence, the text a grammar forces after it,
and as many prompt tokens of newly admitted ones as fit; then it samples each sequence with
its own sampler chain.

Prompt prefixes are reused instead of re-read: a slot keeps the KV of its last sequence
when that one ends, and a new request goes to the free slot whose kept tokens share the
longest prefix with its prompt (the chat template's system prompt at least). When another
slot holds a longer shared prefix (the same query and response seen by another agent), the
new sequence shares those KV cells: one copy of the prefix serves every sequence that
starts with it, so it is read from memory once per step, not once per sequence. A request
whose prompt shares a long prefix with a prompt still being read (the judge's requests
about one response, sent together) waits until that prefix is in the KV cache and then
shares it, instead of reading it beside it. Prompts that left their slot stay in a
``PrefixStore`` in host memory, so a later step that starts the same way (the same
response, critiqued and then judged) restores them.

How a step is cut into ``llama_decode`` calls matters on a CPU. One call is one pass over
all the weights, so the one-token steps of every sequence and the short forced texts go
together in one call. But llama.cpp's fast attention for a prompt chunk (64 rows or more)
computes every tile of the cache that any row of the chunk may see; rows of different
sequences in one such chunk would each pay for the others' caches. So a call holds either
fewer than ``TILE_ROWS`` tokens of any sequences, or one sequence's prompt chunk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from datagen.engine.backend import RawAnswer
from datagen.engine.backends.llama_model import LoadedModel
from datagen.engine.backends.llama_prefixes import PrefixStore, shared_prefix
from datagen.engine.backends.llama_sequence import Generation, Job

# A request waits for a prefix still being read only when it gains this many tokens.
MIN_AWAITED_PREFIX = 64
# Restoring from host memory copies the entry; worth it for a few tokens more.
MIN_RESTORED_PREFIX = 16
# llama.cpp's tiled attention takes over from row-by-row attention at this many rows.
TILE_ROWS = 64


@dataclass
class Slot:
    seq: int
    history: list[int] = field(default_factory=list)  # tokens in this slot's KV, by position
    generation: Generation | None = None


# one sequence's share of a ``llama_decode`` call: its slot, its tokens, and whether its
# last token's logits are sampled
Part = tuple[Slot, list[int], bool]


class BatchDecoder:
    """One context decoding up to ``slots`` sequences together."""

    def __init__(self, model: LoadedModel, *, slots: int, n_ctx: int, threads: int,
                 n_batch: int = 512, prefixes: PrefixStore | None = None):
        self.model = model
        self.lib = model.lib
        self.n_ctx = n_ctx
        self.n_batch = n_batch
        self.context = model.new_context(slots=slots, n_ctx_per_slot=n_ctx, threads=threads,
                                         n_batch=n_batch)
        self.memory = self.lib.llama_get_memory(self.context.ctx)
        self.batch = self.lib.llama_batch_init(n_batch, 0, 1)
        self.slots = [Slot(seq) for seq in range(slots)]
        self.prefixes = prefixes
        self.prompt_tokens_reused = 0  # read from the KV cache instead of decoded again
        self.prompt_tokens_shared = 0  # of those, shared with another slot
        self.prompt_tokens_restored = 0  # of those, restored from the prefix store
        # admitted jobs waiting for a prefix another slot is still reading; each holds a
        # free slot, so a waiting job always has one when its prefix is ready
        self.waiting: deque[tuple[Job, list[int]]] = deque()

    @property
    def free_slots(self) -> int:
        return sum(slot.generation is None for slot in self.slots) - len(self.waiting)

    @property
    def busy(self) -> bool:
        return bool(self.waiting) or any(slot.generation is not None for slot in self.slots)

    def admit(self, job: Job) -> None:
        """Start a job in a free slot (or queue it behind a prefix being read); a job that
        cannot start is answered with its error."""
        try:
            messages = [m.as_dict() for m in job.call.request.messages]
            prompt = self.model.prompt_tokens(messages)
            if len(prompt) >= self.n_ctx:
                raise ValueError(f"the prompt has {len(prompt)} tokens; the context holds"
                                 f" {self.n_ctx} per sequence (raise n_ctx in the model spec)")
        except Exception as exc:
            self._refuse(job, exc)
            return
        if self._prefix_coming(prompt):
            self.waiting.append((job, prompt))
        else:
            self._start(job, prompt)

    def _start(self, job: Job, prompt: list[int]) -> None:
        try:
            slot = self._best_free_slot(prompt)
            generation = Generation(job, self.model, prompt, self._reuse(slot, prompt),
                                    room=self.n_ctx - len(prompt) - 1)
        except Exception as exc:
            self._refuse(job, exc)
            return
        self.prompt_tokens_reused += generation.reused
        if generation.finish_reason is not None:  # complete before its first step
            generation.close()
            job.finish(generation.answer())
        else:
            slot.generation = generation

    @staticmethod
    def _refuse(job: Job, exc: Exception) -> None:
        job.finish(RawAnswer(error=f"llama.cpp could not start the request: {exc}",
                             finish_reason="error"))

    def _prefix_coming(self, prompt: list[int]) -> bool:
        """Will a slot still reading its prompt soon hold a much longer prefix of ``prompt``
        than any KV cache holds now?"""
        coming = min(len(prompt) - 1, max(
            (planned_prefix(slot.history, generation.pending, prompt)
             for slot, generation in self._active() if generation.pending), default=0))
        if coming < MIN_AWAITED_PREFIX:  # the usual case: nothing worth waiting for
            return False
        now = max(shared_prefix(slot.history, prompt) for slot in self.slots)
        if self.prefixes is not None and coming >= now + MIN_AWAITED_PREFIX:
            now = max(now, self.prefixes.longest(prompt)[1])  # a scan of the store
        return coming >= now + MIN_AWAITED_PREFIX

    def _start_ready(self) -> None:
        """Start the waiting jobs whose prefix has been read."""
        for _ in range(len(self.waiting)):
            job, prompt = self.waiting.popleft()
            if self._prefix_coming(prompt):
                self.waiting.append((job, prompt))
            else:
                self._start(job, prompt)

    def _best_free_slot(self, prompt: list[int]) -> Slot:
        free = [slot for slot in self.slots if slot.generation is None]
        return max(free, key=lambda slot: shared_prefix(slot.history, prompt))

    def _reuse(self, slot: Slot, prompt: list[int]) -> int:
        """Keep (or share or restore) the longest cached prefix of ``prompt``; its length."""
        limit = len(prompt) - 1  # the last prompt token is decoded again for its logits
        held = {other.seq: min(shared_prefix(other.history, prompt), limit)
                for other in self.slots}
        kept = held[slot.seq]
        donor = max(held, key=held.__getitem__)
        if held[donor] > kept:  # the donor's cells get this sequence's id as well
            self.lib.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)
            self.lib.llama_memory_seq_cp(self.memory, donor, slot.seq, 0, held[donor])
            kept = held[donor]
            self.prompt_tokens_shared += kept
        kept = self._restore(slot, prompt, kept, limit)
        self.lib.llama_memory_seq_rm(self.memory, slot.seq, kept, -1)
        slot.history = prompt[:kept]
        return kept

    def _restore(self, slot: Slot, prompt: list[int], kept: int, limit: int) -> int:
        """Load a longer prefix from the store into ``slot``, if it has one."""
        if self.prefixes is None:
            return kept
        entry, stored = self.prefixes.longest(prompt)
        stored = min(stored, limit)
        if entry is None or stored < kept + MIN_RESTORED_PREFIX:
            return kept
        if not self.prefixes.restore(self.context.ctx, entry, slot.seq):
            self.lib.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)  # nothing half-loaded
            slot.history = []
            return 0
        self.prompt_tokens_restored += stored
        return stored

    def step(self) -> None:
        """Decode the next tokens of every sequence and sample those that have new logits."""
        self._start_ready()
        for call in self._plan():
            sampled = self._fill_batch(call)
            status = self.lib.llama_decode(self.context.ctx, self.batch)
            if status != 0:
                self.fail_all(f"llama_decode returned {status}")
                return
            for slot, index in sampled:
                generation = slot.generation
                assert generation is not None and generation.sampler is not None
                token = generation.sampler.sample(self.context.ctx, index)
                if generation.accept(token, room=self.n_ctx - len(slot.history) - 1):
                    self._finish(slot, generation.answer())

    def _plan(self) -> list[list[Part]]:
        """This step's tokens, cut into ``llama_decode`` calls."""
        return cut_into_calls(self._parts())

    def _parts(self) -> list[Part]:
        """Next tokens first, then prompt chunks and forced text as ``n_batch`` allows,
        oldest admission first."""
        parts: list[Part] = []
        room = self.n_batch
        for slot, generation in self._active():
            if generation.next_token is not None:
                parts.append((slot, [generation.next_token], True))
                generation.next_token = None
                room -= 1
        for slot, generation in sorted(self._active(), key=lambda active: active[1].started):
            if not generation.pending or room <= 0:
                continue
            chunk, generation.pending = generation.pending[:room], generation.pending[room:]
            parts.append((slot, chunk, not generation.pending))
            room -= len(chunk)
        return parts

    def _fill_batch(self, call: list[Part]) -> list[tuple[Slot, int]]:
        """Put one call's tokens in the batch; returns (slot, batch index) to sample."""
        self.batch.n_tokens = 0
        sampled = []
        for slot, tokens, sample in call:
            last = self._add(slot, tokens)
            if sample:
                sampled.append((slot, last))
        return sampled

    def _add(self, slot: Slot, tokens: list[int]) -> int:
        """Append ``tokens`` of ``slot`` to the batch; logits for the last; its index."""
        batch, start = self.batch, self.batch.n_tokens
        position = len(slot.history)
        for offset, token in enumerate(tokens):
            i = start + offset
            batch.token[i] = token
            batch.pos[i] = position + offset
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot.seq
            batch.logits[i] = False
        last = start + len(tokens) - 1
        batch.logits[last] = True
        batch.n_tokens = last + 1
        slot.history.extend(tokens)
        return last

    def _active(self) -> Iterator[tuple[Slot, Generation]]:
        for slot in self.slots:
            if slot.generation is not None:
                yield slot, slot.generation

    def _finish(self, slot: Slot, answer: RawAnswer) -> None:
        generation = slot.generation
        assert generation is not None
        slot.generation = None
        generation.close()
        try:
            if answer.error is None:
                self._keep_prompt(slot, generation.prompt)
        finally:
            generation.job.finish(answer)

    def _keep_prompt(self, slot: Slot, prompt: list[int]) -> None:
        """Save the slot's prompt to the store (what it generated is rarely read again)."""
        if self.prefixes is None or not self.prefixes.wants(prompt):
            return
        self.lib.llama_memory_seq_rm(self.memory, slot.seq, len(prompt), -1)
        slot.history = slot.history[: len(prompt)]
        self.prefixes.keep(self.context.ctx, slot.seq, prompt)

    def fail_all(self, error: str) -> None:
        """Answer every sequence in flight with ``error`` and forget their KV."""
        for slot, generation in list(self._active()):
            self.lib.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)
            slot.history = []
            self._finish(slot, RawAnswer(error=f"llama.cpp failed: {error}",
                                         finish_reason="error",
                                         seconds=generation.answer().seconds))

    def close(self) -> None:
        self.fail_all("the model was closed")
        while self.waiting:
            job, _ = self.waiting.popleft()
            job.finish(RawAnswer(error="llama.cpp failed: the model was closed",
                                 finish_reason="error"))
        if self.batch is not None:
            self.lib.llama_batch_free(self.batch)
            self.batch = None
        self.context.close()


def cut_into_calls(parts: list[Part]) -> list[list[Part]]:
    """Short parts share calls of fewer than ``TILE_ROWS`` tokens; a longer chunk is a call
    of its own (see the module's docstring)."""
    calls: list[list[Part]] = []
    short: list[Part] = []
    rows = 0
    for part in parts:
        size = len(part[1])
        if size >= TILE_ROWS:
            calls.append([part])
            continue
        if rows + size >= TILE_ROWS:
            calls.append(short)
            short, rows = [], 0
        short.append(part)
        rows += size
    if short:
        calls.append(short)
    return calls


def planned_prefix(history: list[int], pending: list[int], prompt: list[int]) -> int:
    """``shared_prefix(history + pending, prompt)`` without building the joined list (this
    runs for every waiting request at every decoding step)."""
    kept = shared_prefix(history, prompt)
    if kept < len(history):
        return kept
    return kept + shared_prefix(pending, prompt[kept:])
