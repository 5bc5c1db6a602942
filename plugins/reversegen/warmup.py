"""The optional warm-up: SFT of the proposer on (3 seeds -> a held-out 4th) before round 1."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import polars as pl

from datagen.errors import InvalidInput
from datagen.generator import BatchOutput, GeneratorContext, stable_id
from datagen.steps import StepKit

from .explore import seed_pool
from .prompts import proposer_prompt
from .proposers import require_folder

if TYPE_CHECKING:
    from .generator import FailureQueries


def warmup_examples(gen: FailureQueries, pool: list[str]) -> list[dict[str, str]]:
    """``warmup_examples`` prompts of ``shots`` seeds, each completed by another seed."""
    shots = gen.options.shots
    if len(pool) < shots + 1:
        raise InvalidInput(f"the warm-up needs at least {shots + 1} seed instructions,"
                           f" the pool has {len(pool)}", path="input")
    rng = random.Random(f"{gen.options.seed}:warmup")
    examples = []
    for _ in range(gen.options.warmup_examples):
        *shown, held_out = rng.sample(pool, shots + 1)
        prompt = proposer_prompt(gen.options.task, shown)
        examples.append({"id": stable_id(prompt, held_out), "prompt": prompt,
                         "completion": held_out})
    return examples


def warmup(gen: FailureQueries, frame: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
    """Train (or reuse) the warmed-up proposer; its folder serves round 1."""
    from .rounds import train_once

    examples = warmup_examples(gen, seed_pool(frame))
    parent = require_folder(gen.proposer_for(1, ctx, warmed=False))
    rows = [(e["prompt"], e["completion"]) for e in examples]
    folder, loss, reused = train_once(gen, "sft", 0, parent, rows, sft_table(examples),
                                     ctx.home)
    kit = StepKit(ctx)
    kit.record("warmup", [{**e, "trained_proposer": folder, "train_loss": loss,
                           "reused": reused} for e in examples])
    return kit.out


def sft_table(examples: list[dict[str, str]]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist([
        {"messages": [{"role": "user", "content": e["prompt"]},
                      {"role": "assistant", "content": e["completion"]}]}
        for e in examples
    ])
