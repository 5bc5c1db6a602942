"""Round stages 1-2: the proposer writes instructions; invalid ones and near-duplicates go."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import polars as pl

from datagen.errors import InvalidInput
from datagen.generator import BatchOutput, GeneratorContext, stable_id
from datagen.llm import ChatRequest
from datagen.steps import StepKit

from .logic import (
    cosine,
    invalid_reason,
    minhash,
    near_duplicates,
    parse_instruction,
    proposer_shots,
    signature_similarity,
)
from .prompts import proposer_prompt

if TYPE_CHECKING:
    from .generator import FailureQueries
    from .proposers import Proposer


def seed_pool(frame: pl.DataFrame) -> list[str]:
    """The non-empty seed instructions of the input, in order, without repeats."""
    texts = [str(t).strip() for t in frame.get_column("instruction").to_list() if t is not None]
    pool = list(dict.fromkeys(t for t in texts if t))
    if not pool:
        raise InvalidInput("the seed pool is empty: give at least one non-empty 'instruction'",
                           path="input")
    return pool


def three_shot_prompts(gen: FailureQueries, round_no: int, pool: list[str]) -> list[dict[str, Any]]:
    """The round's prompts: seeds sampled with a generator seeded by (seed, round)."""
    options = gen.options
    rng = random.Random(f"{options.seed}:{round_no}")
    prompts = []
    for index in range(options.prompts_per_round):
        seeds = proposer_shots(pool, options.shots, rng)
        text = proposer_prompt(options.task, seeds)
        prompts.append({"prompt_id": stable_id(round_no, index, seeds), "prompt": text,
                        "seeds": seeds})
    return prompts


def explore(gen: FailureQueries, round_no: int, frame: pl.DataFrame,
            ctx: GeneratorContext) -> BatchOutput:
    """Sample ``samples_per_prompt`` instructions per 3-shot prompt from the round's proposer."""
    pool = seed_pool(frame)
    prompts = three_shot_prompts(gen, round_no, pool)
    kit = StepKit(ctx)
    asks = [(p, k) for p in prompts for k in range(gen.options.samples_per_prompt)]
    with gen.round_proposer(round_no, ctx) as proposer:
        requests = [_proposer_request(gen, p["prompt"], k) for p, k in asks]
        completions = proposer.model.complete(requests)
    rows = []
    for (prompt, index), completion in zip(asks, completions, strict=True):
        if completion.ok:
            rows.append(_candidate(gen, round_no, prompt, index, completion.text, proposer))
        else:
            reason = f"the proposer call failed: {completion.error}"
            kit.fail("explore", prompt["prompt_id"], reason,
                     round=round_no, sample_index=index)
    kit.record("candidates", rows)
    return kit.out


def _proposer_request(gen: FailureQueries, prompt: str, index: int) -> ChatRequest:
    o = gen.options
    return ChatRequest.chat(prompt, max_tokens=o.instruction_tokens, temperature=o.temperature,
                            top_p=o.top_p, seed=o.seed, sample_index=index, step="explore")


def _candidate(gen: FailureQueries, round_no: int, prompt: dict[str, Any], index: int,
               raw: str, proposer: Proposer) -> dict[str, Any]:
    return {
        "id": stable_id(round_no, prompt["prompt_id"], index), "round": round_no,
        "prompt_id": prompt["prompt_id"], "prompt": prompt["prompt"], "seeds": prompt["seeds"],
        "sample_index": index, "raw": raw, "proposer": proposer.spec,
        "instruction": parse_instruction(raw, gen.options.instruction_chars),
    }


def dedup(gen: FailureQueries, round_no: int, frame: pl.DataFrame,
          ctx: GeneratorContext) -> BatchOutput:
    """Mark each candidate of the round kept, invalid, or a near-duplicate of an earlier one."""
    rows = this_round(frame, round_no).to_dicts()
    kit = StepKit(ctx)
    reasons = [invalid_reason(r["instruction"], r["seeds"], gen.options.min_words) for r in rows]
    valid = [r for r, why in zip(rows, reasons, strict=True) if not why]
    twins = dict(zip((r["id"] for r in valid), _twins(gen, valid, ctx), strict=True))
    kit.record("kept", [_kept(r, why, twins.get(r["id"])) for r, why in
                        zip(rows, reasons, strict=True)])
    return kit.out


def _twins(gen: FailureQueries, rows: list[dict[str, Any]], ctx: GeneratorContext) -> list[Any]:
    texts = [r["instruction"] for r in rows]
    method, threshold = gen.options.dedup, gen.options.dedup_threshold
    if method == "none" or not texts:
        return [None] * len(texts)
    if method == "embedding":
        vectors: list[Any] = ctx.model("target").embed(texts)
        similarity: Any = cosine
    else:
        vectors, similarity = [minhash(t) for t in texts], signature_similarity
    indexes = near_duplicates(vectors, threshold, similarity)
    return [None if i is None else rows[i]["id"] for i in indexes]


def _kept(row: dict[str, Any], invalid: str, twin: str | None) -> dict[str, Any]:
    reason = invalid or (f"near-duplicate of {twin}" if twin else "")
    return {
        "id": row["id"], "round": row["round"], "prompt_id": row["prompt_id"],
        "prompt": row["prompt"], "instruction": row["instruction"], "kept": not reason,
        "reason": reason, "duplicate_of": twin,
    }


def this_round(frame: pl.DataFrame, round_no: int) -> pl.DataFrame:
    if frame.is_empty() or "round" not in frame.columns:
        return frame.clear()
    return frame.filter(pl.col("round") == round_no)
