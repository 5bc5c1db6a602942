"""Vote: every usable pair against the numbered candidate rules, in a seeded shown order.

Each answer is mapped back to the original texts and compared with the label: for,
against or abstain. An answer that is not JSON makes every rule of that call an invalid
vote (and a failure row); a rule whose value is missing or unknown is an invalid vote.
The raw value is kept on every invalid vote.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from datagen.generator import BatchOutput, GeneratorContext, stable_id
from datagen.llm import Completion
from datagen.steps import Ask, CheckFailed, StepKit, parse_json_answer

from .logic import parse_vote, shown_texts, unshuffle, verdict
from .options import ConstitutionOptions
from .requests import vote_request

Chunk = list[dict[str, Any]]


def vote(options: ConstitutionOptions, pairs: pl.DataFrame,
         ctx: GeneratorContext) -> BatchOutput:
    kit = StepKit(ctx)
    candidates = ctx.table("candidates").sort("number").to_dicts()
    size = options.rules_per_vote
    chunks = [candidates[s:s + size] for s in range(0, len(candidates), size)]
    work = [(p, chunk) for p in pairs.to_dicts() if p["used"] for chunk in chunks]
    asks = [_ask(options, pair, chunk) for pair, chunk in work]
    for ask, (pair, chunk), completion in zip(asks, work, kit.complete(asks), strict=True):
        kit.record("votes", _votes(kit, ask, pair, chunk, completion))
    return kit.out


def _ask(options: ConstitutionOptions, pair: dict[str, Any], chunk: Chunk) -> Ask:
    shown = shown_texts(pair["text_a"], pair["text_b"], pair["shown_order"])
    request = vote_request(options, pair["prompt"], shown, [c["rule"] for c in chunk])
    return Ask("voter", request, pair["id"])


def _votes(kit: StepKit, ask: Ask, pair: dict[str, Any], chunk: Chunk,
           completion: Completion) -> list[dict[str, Any]]:
    try:
        data = parse_json_answer(completion)
    except CheckFailed as exc:
        kit.out.failures.append(kit.failure(ask, completion, str(exc)))
        return [_vote(kit, pair, rule, n, None, completion.text)
                for n, rule in enumerate(chunk, 1)]
    return [_vote(kit, pair, rule, n, parse_vote(data.get(str(n))), _raw(data.get(str(n))))
            for n, rule in enumerate(chunk, 1)]


def _raw(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _vote(kit: StepKit, pair: dict[str, Any], rule: dict[str, Any], number: int,
          answer: str | None, raw: str) -> dict[str, Any]:
    pick = unshuffle(answer, pair["shown_order"]) if answer else "invalid"
    return {
        "id": stable_id(pair["id"], rule["id"]), "input_id": pair["id"], "pair_id": pair["id"],
        "rule_id": rule["id"], "number": number, "shown_order": pair["shown_order"],
        "answer": answer, "pick": pick,
        "verdict": verdict(pick, pair["preferred"]) if answer else "invalid",
        "raw": None if answer else raw, "model": kit.spec("voter"),
    }
