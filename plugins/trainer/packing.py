"""Packed SFT rows in which conversations stay apart.

Rows come from TRL's best-fit-decreasing packing: several tokenized conversations per row
of at most ``max_length`` tokens, with ``seq_lengths`` saying where each one ends.
:class:`IsolatedRowsCollator` turns a batch of them into model inputs that keep every
conversation on its own:

- ``position_ids`` restart at 0 for each conversation (and for the padding tail);
- no ``attention_mask`` and ``use_cache=False``: transformers then reads the position
  resets as sequence boundaries and builds a block-diagonal causal mask (sdpa, eager,
  flex_attention). With a cache object present it skips that detection, and a model
  whose config says ``use_cache`` creates one even while training;
- the label of each conversation's first token is ``-100``, so no token is trained to
  predict the start of the next conversation.

The attention cost per row stays that of one ``max_length`` sequence (TRL's padding-free
collator puts the whole batch in one row, quadratic in the batch's tokens on sdpa).
"""

from __future__ import annotations

import bisect
from typing import Any

IGNORE = -100


class IsolatedRowsCollator:
    """Stacks packed rows as ``[batch, width]`` with per-conversation positions and labels."""

    def __init__(self, pad_id: int, pad_to_multiple_of: int | None = None,
                 count_tokens: bool = False):
        self.pad_id = pad_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.count_tokens = count_tokens  # add the real-token count for progress.TokenCounter

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = self._width(max(len(row["input_ids"]) for row in rows))
        shape = (len(rows), width)
        ids = torch.full(shape, self.pad_id, dtype=torch.long)
        labels = torch.full(shape, IGNORE, dtype=torch.long)
        positions = torch.zeros(shape, dtype=torch.long)
        for index, row in enumerate(rows):
            length = len(row["input_ids"])
            ids[index, :length] = torch.tensor(row["input_ids"])
            labels[index, :length] = torch.tensor(row.get("labels", row["input_ids"]))
            lengths = list(row.get("seq_lengths") or [length])
            positions[index] = row_positions(lengths, width)
            labels[index, sequence_starts(lengths)] = IGNORE
        batch = {"input_ids": ids, "labels": labels, "position_ids": positions, "use_cache": False}
        if self.count_tokens:
            batch["real_tokens"] = sum(len(row["input_ids"]) for row in rows)
        return batch

    def _width(self, longest: int) -> int:
        step = self.pad_to_multiple_of or 1
        return -(-longest // step) * step


def row_positions(lengths: list[int], width: int) -> Any:
    """0..n-1 for each conversation, then 0.. again for the padding tail."""
    import torch

    used = sum(lengths)
    parts = [torch.arange(n) for n in lengths if n > 0]
    if width > used:
        parts.append(torch.arange(width - used))
    return torch.cat(parts)


def sequence_starts(lengths: list[int]) -> list[int]:
    starts, offset = [], 0
    for n in lengths:
        starts.append(offset)
        offset += n
    return starts


def best_fit_rows(lengths: list[int], capacity: int) -> list[int]:
    """Token counts of the rows best-fit-decreasing packing makes (for step planning).

    Sequences longer than ``capacity`` are truncated to it, as TRL's ``bfd`` strategy does.
    """
    free: list[int] = []  # sorted remaining capacities of open rows
    for length in sorted((min(n, capacity) for n in lengths if n > 0), reverse=True):
        at = bisect.bisect_left(free, length)
        if at < len(free):
            bisect.insort(free, free.pop(at) - length)
        else:
            bisect.insort(free, capacity - length)
    return [capacity - remaining for remaining in free]


__all__ = ["IsolatedRowsCollator", "best_fit_rows", "row_positions", "sequence_starts"]
