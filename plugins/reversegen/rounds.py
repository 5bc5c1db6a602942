"""Round stages 4-5: preference pairs for the proposer, then the round's bookkeeping.

``pairs`` matches failure-inducing instructions (chosen) with handled ones (rejected) under
the same 3-shot prompt. ``close_round`` trains the next proposer with DPO (or reuses the
folder a killed run already finished), writes the round's metrics row, and after the last
round the dataset's rows: the instructions that made the target fail.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datagen.generator import BatchOutput, GeneratorContext, stable_id
from datagen.steps import StepKit

from .explore import this_round
from .logic import Labeled, build_pairs, distinct_n, failure_rate, self_bleu
from .proposers import (
    Proposer,
    finished,
    mark_finished,
    proposer_dir,
    proposer_key,
    require_folder,
)

if TYPE_CHECKING:
    from .generator import FailureQueries


def pairs(gen: FailureQueries, round_no: int, frame: pl.DataFrame,
          ctx: GeneratorContext) -> BatchOutput:
    """The round's preference pairs (prompt, chosen failure, rejected pass)."""
    labels = this_round(frame, round_no).to_dicts()
    items = [Labeled(r["id"], r["prompt_id"], r["prompt"], r["instruction"], r["failed"])
             for r in labels]
    kit = StepKit(ctx)
    kit.record("pairs", [
        {"id": stable_id(round_no, c.id, r.id), "round": round_no, "prompt": c.prompt,
         "chosen": c.instruction, "rejected": r.instruction, "chosen_id": c.id,
         "rejected_id": r.id}
        for c, r in build_pairs(items, gen.options.pairs_per_prompt)
    ])
    return kit.out


def close_round(gen: FailureQueries, round_no: int, frame: pl.DataFrame,
                ctx: GeneratorContext) -> BatchOutput:
    """Train the next proposer if needed, record the round's metrics and (last) the rows."""
    kit = StepKit(ctx)
    round_pairs = this_round(frame, round_no).to_dicts()
    proposer = gen.proposer_for(round_no, ctx)
    trained, loss, reused = None, None, False
    if round_pairs and gen.trains_after(round_no):
        trained, loss, reused = train_next(gen, round_no, proposer, round_pairs, ctx.home)
    kit.record("rounds", [round_metrics(gen, round_no, ctx, proposer, len(round_pairs))
                          | {"train_loss": loss, "trained_proposer": trained, "reused": reused}])
    if round_no == gen.options.rounds:
        rounds = ctx.table("rounds")
        proposers = dict(zip(rounds["round"].to_list(), rounds["proposer"].to_list(), strict=True))
        proposers[round_no] = proposer.spec
        kit.out.rows.extend(output_rows(gen, ctx.table("labels"), proposers, round_no))
    return kit.out


def train_settings(gen: FailureQueries, method: str) -> dict[str, Any]:
    o = gen.options
    if method == "sft":
        return {"max_steps": o.warmup_steps, "learning_rate": o.warmup_learning_rate,
                "seed": o.seed}
    return {"beta": o.beta, "max_steps": o.train_steps, "learning_rate": o.learning_rate,
            "seed": o.seed}


def train_next(gen: FailureQueries, round_no: int, proposer: Proposer,
               round_pairs: list[dict[str, Any]],
               home: Path | None) -> tuple[str, float | None, bool]:
    """DPO the proposer on the round's pairs into its keyed folder, unless already done."""
    rows = [(p["prompt"], p["chosen"], p["rejected"]) for p in round_pairs]
    return train_once(gen, "dpo", round_no, require_folder(proposer), rows,
                      preference_table(round_pairs), home)


def train_once(gen: FailureQueries, method: str, round_no: int, parent: str,
               rows: Sequence[Sequence[str]], table: Any,
               home: Path | None) -> tuple[str, float | None, bool]:
    """Train into the folder keyed by the inputs, or reuse it if a run already finished it.

    Folders live under the build's datagen home (``ctx.home``; the default home when None).

    Returns (folder, training loss, reused).
    """
    settings = train_settings(gen, method)
    folder = proposer_dir(proposer_key(method, parent, rows, settings), home)
    done = finished(folder)
    if done is not None:
        return str(folder), done.get("train_loss"), True
    clear_unfinished(folder)
    metrics = gen.train_proposer(table, parent, folder, settings, method)
    loss = metrics.get("train_loss", metrics.get("loss"))
    mark_finished(folder, {"train_loss": loss, "round": round_no, "parent": parent})
    gen.record_proposer(folder, parent, round_no, metrics, settings, method, home)
    return str(folder), loss, False


def clear_unfinished(folder: Path) -> None:
    """A folder without the marker is what a run killed mid-training left: start it over."""
    if folder.exists():
        shutil.rmtree(folder)


def preference_table(round_pairs: list[dict[str, Any]]) -> Any:
    """Conversational preference rows: the 3-shot prompt, and the two instructions."""
    import pyarrow as pa

    return pa.Table.from_pylist([
        {"prompt": [{"role": "user", "content": p["prompt"]}],
         "chosen": [{"role": "assistant", "content": p["chosen"]}],
         "rejected": [{"role": "assistant", "content": p["rejected"]}]}
        for p in round_pairs
    ])


def round_metrics(gen: FailureQueries, round_no: int, ctx: GeneratorContext,
                  proposer: Proposer, pair_count: int) -> dict[str, Any]:
    candidates = this_round(ctx.table("candidates"), round_no)
    kept = this_round(ctx.table("kept"), round_no)
    labels = this_round(ctx.table("labels"), round_no)
    kept_texts = kept.filter(pl.col("kept"))["instruction"].to_list() if kept.height else []
    verdicts = labels["failed"].to_list() if labels.height else []
    return {
        "round": round_no, "proposer": proposer.spec, "proposer_folder": proposer.folder,
        "sampled": candidates.height, "kept": len(kept_texts), "labeled": len(verdicts),
        "failures": sum(verdicts), "failure_rate": failure_rate(verdicts),
        "self_bleu": self_bleu(kept_texts), "distinct_1": distinct_n(kept_texts, 1),
        "distinct_2": distinct_n(kept_texts, 2), "pairs": pair_count,
    }


def output_rows(gen: FailureQueries, labels: pl.DataFrame, proposers: dict[int, str],
                last: int) -> list[dict[str, Any]]:
    """The failure-inducing instructions of the last round (or of every round)."""
    if labels.is_empty():
        return []
    chosen = labels.filter(pl.col("failed"))
    if not gen.options.all_rounds:
        chosen = chosen.filter(pl.col("round") == last)
    fields = ("id", "round", "instruction", "answer", "oracle", "evidence", "entropy",
              "reference", "judge_reason", "target")
    return [{**{k: r[k] for k in fields}, "verdict": "fail",
             "proposer": proposers.get(r["round"], "")} for r in chosen.to_dicts()]
