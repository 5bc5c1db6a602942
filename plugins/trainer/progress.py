"""Compact progress lines while training: step, loss, learning rate, tokens/s."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

REAL_TOKENS = "real_tokens"
"""Batch key a collator may set when its input_ids hold padding that no mask shows."""


class TokenCounter:
    """Counts the real (non-pad) tokens, and the token slots, each micro-batch feeds the model.

    Counted in the main process around ``compute_loss``, so it works with dataloader
    workers and with every collator: padded masks, padding-free ``input_ids``, or packed
    rows whose collator says how many of its slots are real (``REAL_TOKENS``, removed
    here before the model sees the batch). ``slots / tokens`` is the padding overhead.
    """

    def __init__(self) -> None:
        self.tokens = 0
        self.slots = 0

    @classmethod
    def attach(cls, trainer: Any) -> TokenCounter:
        counter = cls()
        original = trainer.compute_loss

        def counting(model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            counter.add(inputs)
            return original(model, inputs, *args, **kwargs)

        trainer.compute_loss = counting
        return counter

    def add(self, inputs: dict[str, Any]) -> None:
        ids = [v for k, v in inputs.items() if k.endswith("input_ids") and v is not None]
        self.slots += int(sum(v.numel() for v in ids))
        if REAL_TOKENS in inputs:
            self.tokens += int(inputs.pop(REAL_TOKENS))
            return
        masks = [v for k, v in inputs.items() if k.endswith("attention_mask") and v is not None]
        if masks:
            self.tokens += int(sum(int(m.sum()) for m in masks))
            return
        self.tokens += int(sum(v.numel() for v in ids))

    @property
    def real_share(self) -> float:
        return self.tokens / self.slots if self.slots else 0.0


class Progress(TrainerCallback):
    """Prints one line per logging step and keeps the losses for the final metrics."""

    def __init__(self, emit: Callable[[str], None], counter: TokenCounter, warmup_steps: int = 2):
        self.emit = emit
        self.counter = counter
        self.losses: list[float] = []
        self.last_logs: dict[str, Any] = {}
        self.steps = 0
        self.started = time.perf_counter()
        self.warmup_steps = warmup_steps
        self.warm: tuple[float, int, float] | None = None  # (time, tokens, CPU time) then
        self.last: tuple[float, int, float] = (self.started, 0, time.process_time())

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps = state.global_step
        _synchronize()
        self.last = (time.perf_counter(), self.counter.tokens, time.process_time())
        if state.global_step == self.warmup_steps:
            self.warm = self.last

    def steady_tokens_per_second(self) -> float | None:
        """Real tokens/s after the warm-up steps (allocator, kernels, first batches)."""
        if self.warm is None or self.last[0] <= self.warm[0]:
            return None
        return (self.last[1] - self.warm[1]) / (self.last[0] - self.warm[0])

    def steady_tokens_per_cpu_second(self) -> float | None:
        """The same per second of this process's CPU time: steady on a busy shared CPU."""
        if self.warm is None or self.last[2] <= self.warm[2]:
            return None
        return (self.last[1] - self.warm[1]) / (self.last[2] - self.warm[2])

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any):
        if not logs or "loss" not in logs:
            return
        self.last_logs = dict(logs)
        self.losses.append(float(logs["loss"]))
        elapsed = time.perf_counter() - self.started
        rate = self.counter.tokens / elapsed if elapsed else 0.0
        extra = _extra(logs)
        self.emit(
            f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
            f"lr {logs.get('learning_rate', 0):.2e}  {rate:,.0f} tok/s  {elapsed:.0f}s{extra}"
        )


def _synchronize() -> None:
    """Step times are only true once queued GPU work has finished."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _extra(logs: dict[str, Any]) -> str:
    shown = {"rewards/accuracies": "acc", "accuracy": "acc", "rewards/margins": "margin"}
    parts = [f"  {short} {logs[key]:.3f}" for key, short in shown.items() if key in logs]
    return "".join(parts)
