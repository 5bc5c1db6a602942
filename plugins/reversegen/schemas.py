"""The record shapes of ReverseGen's steps and rows (JSON Schema, enforced by the host)."""

from __future__ import annotations

from typing import Any

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
OPT_STR: dict[str, Any] = {"type": ["string", "null"]}
OPT_NUM: dict[str, Any] = {"type": ["number", "null"]}


def record(title: str, description: str, **properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "description": description,
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


CANDIDATE = record(
    "reversegen-candidate",
    "An instruction the round's proposer wrote for one 3-shot prompt.",
    id=STR, round=INT, prompt_id=STR, prompt=STR, seeds={"type": "array", "items": STR},
    sample_index=INT, instruction=STR, raw=STR, proposer=STR,
)
KEPT = record(
    "reversegen-kept",
    "Whether a candidate survived the validity check and near-duplicate removal, and why not.",
    id=STR, round=INT, prompt_id=STR, prompt=STR, instruction=STR, kept=BOOL, reason=STR,
    duplicate_of=OPT_STR,
)
LABEL = record(
    "reversegen-label",
    "The target's greedy answer to a kept instruction and the oracle's verdict with evidence.",
    id=STR, round=INT, prompt_id=STR, prompt=STR, instruction=STR, answer=STR, oracle=STR,
    failed=BOOL, evidence=STR, entropy=OPT_NUM, samples={"type": "array", "items": STR},
    reference=OPT_STR, judge_reason=OPT_STR, target=STR,
)
PAIR = record(
    "reversegen-pair",
    "A preference pair for the proposer: the same prompt, a failure-inducing instruction"
    " (chosen) and one the target handled (rejected).",
    id=STR, round=INT, prompt=STR, chosen=STR, rejected=STR, chosen_id=STR, rejected_id=STR,
)
ROUND = record(
    "reversegen-round",
    "One round: its proposer, counts, the target's failure rate, diversity and training.",
    round=INT, proposer=STR, proposer_folder=OPT_STR, sampled=INT, kept=INT, labeled=INT,
    failures=INT, failure_rate=NUM, self_bleu=NUM, distinct_1=NUM, distinct_2=NUM, pairs=INT,
    train_loss=OPT_NUM, trained_proposer=OPT_STR, reused=BOOL,
)
WARMUP = record(
    "reversegen-warmup",
    "A warm-up example for the proposer (3 seeds -> a held-out 4th) and the folder it trained.",
    id=STR, prompt=STR, completion=STR, trained_proposer=STR, train_loss=OPT_NUM, reused=BOOL,
)
FAILURE_QUERY = record(
    "failure-query",
    "An instruction that made the target fail, the target's answer and the oracle's evidence.",
    id=STR, round=INT, instruction=STR, answer=STR, oracle=STR, verdict=STR, evidence=STR,
    entropy=OPT_NUM, reference=OPT_STR, judge_reason=OPT_STR, target=STR, proposer=STR,
)
FAILURE_SFT = record(
    "failure-sft",
    "A failure-inducing instruction with a teacher's corrected answer (prompt-completion).",
    id=STR, prompt=STR, completion=STR, failed_answer=STR, oracle=STR, evidence=STR, teacher=STR,
)
