"""Prompt prefixes kept in host memory after their sequence has left its slot.

A slot keeps the KV of its last sequence only until the next request takes it, and a
context has a few slots; a pipeline's later steps (a judge reading the response an agent
critiqued a minute ago) come back to a prefix long after. The store keeps the KV of
finished prompts as llama.cpp's per-sequence state, least recently used first out when
its byte budget is full. Restoring an entry is a copy of a few megabytes, against seconds
of decoding for the same prompt tokens on a CPU, and gives the same logits.

One store serves every context of a model (the state of one sequence loads into any
context of the same model), so a prefix read by one worker is found by the other.
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# A prompt adding fewer new tokens than this to what the store already holds is not kept.
MIN_NEW_TOKENS = 64


@dataclass(frozen=True)
class Entry:
    key: int
    tokens: list[int]
    state: Any  # a ctypes byte array from llama_state_seq_get_data

    @property
    def size(self) -> int:
        return len(self.state)


class PrefixStore:
    """Finished prompts' KV, by token sequence, within ``budget_bytes``."""

    def __init__(self, lib: Any, budget_bytes: int):
        self.lib = lib
        self.budget_bytes = budget_bytes
        self.bytes = 0
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._next_id = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def longest(self, prompt: list[int]) -> tuple[Entry | None, int]:
        """The entry sharing the longest prefix with ``prompt``, and that length (looking
        does not count as a use; restoring does)."""
        best: tuple[Entry | None, int] = (None, 0)
        with self._lock:
            for entry in self._entries.values():
                shared = shared_prefix(entry.tokens, prompt)
                if shared > best[1]:
                    best = (entry, shared)
        return best

    def wants(self, tokens: list[int]) -> bool:
        if self.budget_bytes <= 0:
            return False
        _, known = self.longest(tokens)
        return len(tokens) - known >= MIN_NEW_TOKENS

    def keep(self, ctx: Any, seq: int, tokens: list[int]) -> None:
        """Save sequence ``seq`` of ``ctx``, which holds exactly ``tokens``."""
        size = self.lib.llama_state_seq_get_size(ctx, seq)
        if size <= 0 or size > self.budget_bytes:
            return
        state = (ctypes.c_uint8 * size)()
        if self.lib.llama_state_seq_get_data(ctx, state, size, seq) != size:
            return
        with self._lock:
            entry = Entry(self._next_id, list(tokens), state)
            self._next_id += 1
            self._drop_covered(entry.tokens)
            while self._entries and self.bytes + entry.size > self.budget_bytes:
                _, old = self._entries.popitem(last=False)
                self.bytes -= old.size
            self._entries[entry.key] = entry
            self.bytes += entry.size

    def restore(self, ctx: Any, entry: Entry, seq: int) -> bool:
        """Load ``entry`` into sequence ``seq`` (replacing what it held); it becomes the
        most recently used."""
        with self._lock:
            if entry.key in self._entries:
                self._entries.move_to_end(entry.key)
        return self.lib.llama_state_seq_set_data(ctx, entry.state, entry.size, seq) == entry.size

    def _drop_covered(self, tokens: list[int]) -> None:
        """Entries that are a prefix of ``tokens`` add nothing once it is kept."""
        for key, entry in list(self._entries.items()):
            if len(entry.tokens) <= len(tokens) and tokens[: len(entry.tokens)] == entry.tokens:
                del self._entries[key]
                self.bytes -= entry.size


def shared_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens ``a`` and ``b`` have in common (slice compares run in C)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low] and a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low
