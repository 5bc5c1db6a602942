"""``failure-sft``: a teacher answers each failure-inducing instruction (prompt-completion)."""

from __future__ import annotations

from typing import Any

import polars as pl

from datagen.generator import BatchOutput, GeneratorContext, stable_id
from datagen.llm import ChatRequest
from datagen.steps import Ask, StepKit

from .options import FailureSFTOptions


def correct(options: FailureSFTOptions, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
    kit = StepKit(ctx)
    rows = batch.to_dicts()
    asks = [Ask("teacher", _request(options, row["instruction"]), _row_id(row)) for row in rows]
    for row, ask, completion in zip(rows, asks, kit.complete(asks), strict=True):
        if not completion.ok:
            kit.fail("teacher", ask.input_id, f"the teacher call failed: {completion.error}")
        elif not completion.text.strip():
            kit.fail("teacher", ask.input_id, "the teacher's answer is empty")
        else:
            kit.out.rows.append(_sft_row(row, ask.input_id, completion.text, kit.spec("teacher")))
    return kit.out


def _request(options: FailureSFTOptions, instruction: str) -> ChatRequest:
    return ChatRequest.chat(instruction, system=options.system, max_tokens=options.answer_tokens,
                            step="teacher")


def _row_id(row: dict[str, Any]) -> str:
    return str(row.get("id") or stable_id(row["instruction"]))


def _sft_row(row: dict[str, Any], row_id: str, answer: str, teacher: str) -> dict[str, Any]:
    return {
        "id": row_id, "prompt": row["instruction"], "completion": answer.strip(),
        "failed_answer": str(row.get("answer") or ""), "oracle": str(row.get("oracle") or ""),
        "evidence": str(row.get("evidence") or ""), "teacher": teacher,
    }
