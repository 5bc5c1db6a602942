"""Propose: per preferred pair, N short rules that would explain the annotator's choice."""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from datagen.generator import BatchOutput, Failure, GeneratorContext, stable_id
from datagen.steps import Answer, Ask, CheckFailed, StepKit

from .options import RULE_PREFIX, ConstitutionOptions
from .requests import RULE_KEY, propose_request


def propose(options: ConstitutionOptions, pairs: pl.DataFrame,
            ctx: GeneratorContext) -> BatchOutput:
    """One proposer call per usable pair; each rule becomes a row of ``proposals``."""
    kit = StepKit(ctx)
    used = [p for p in pairs.to_dicts() if p["used"]]
    asks = [Ask("proposer", _request(options, p), p["id"]) for p in used]
    for pair, answer in zip(used, kit.structured(asks, check_rules), strict=True):
        if answer is not None:
            kit.record("proposals", _rules(kit, options, pair, answer))
    return kit.out


def _request(options: ConstitutionOptions, pair: dict[str, Any]) -> Any:
    preferred, other = (("text_a", "text_b") if pair["preferred"] == "a"
                        else ("text_b", "text_a"))
    return propose_request(options, pair["prompt"], pair[preferred], pair[other])


def _rules(kit: StepKit, options: ConstitutionOptions, pair: dict[str, Any],
           answer: Answer) -> list[dict[str, Any]]:
    """The answer's rules with the prefix; a rule over the word limit is a failure row."""
    records = []
    for index, tail in enumerate(answer.data):
        rule = full_rule(tail)
        problem = rule_problem(rule, options.max_words)
        if problem:
            kit.out.failures.append(Failure("propose", problem, pair["id"], raw_output=tail,
                                            detail={"index": index}))
            continue
        records.append({"id": stable_id(pair["id"], index, rule), "input_id": pair["id"],
                        "pair_id": pair["id"], "index": index, "rule": rule,
                        "model": kit.spec("proposer")})
    return records


def check_rules(ask: Ask, data: Any) -> list[str]:
    """The proposed completions of an answer, or ``CheckFailed`` naming what is off."""
    items = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise CheckFailed("the answer has no list of rules")
    tails = [i.get(RULE_KEY) if isinstance(i, dict) else None for i in items]
    texts = [t for t in tails if isinstance(t, str)]
    if len(texts) != len(tails):
        raise CheckFailed(f"every rule must be an object with the text key {RULE_KEY!r}")
    return texts


def rule_problem(rule: str, max_words: int) -> str:
    """Why a proposed rule is unusable ("" when it is fine)."""
    words = len(rule.split())
    if words > max_words:
        return f"rule has {words} words, over max_words {max_words}"
    if words <= len(RULE_PREFIX.split()) or not any(c.isalnum() for c in rule[len(RULE_PREFIX):]):
        return "rule says nothing after the prefix"
    return ""


def full_rule(tail: str) -> str:
    """A proposed completion as a whole rule "Select the response that ..."."""
    text = re.sub(r"^(\d+[.)]|[-*])\s*", "", " ".join(tail.split())).rstrip(".")
    if text.lower().startswith(RULE_PREFIX.lower()):
        text = text[len(RULE_PREFIX):].strip()
    return f"{RULE_PREFIX} {text}."
