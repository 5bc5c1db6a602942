"""Filter and rank: keep rules the votes support, shortlist the best, one per theme.

A rule passes when for > against, for >= ``min_for_share`` of its votes and invalid votes
are fewer than valid ones. Passing rules are ranked by for - against; the top
``shortlist_factor`` x n are clustered again into n groups and the best of each group
makes the constitution. Every candidate gets a decision row saying why it was kept or not.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from datagen.generator import BatchOutput, GeneratorContext
from datagen.steps import StepKit

from .logic import Tally, best_of_each, drop_reason, kmeans, ranked, tally
from .options import ConstitutionOptions


def select(options: ConstitutionOptions, votes: pl.DataFrame,
           ctx: GeneratorContext) -> BatchOutput:
    kit = StepKit(ctx)
    candidates = {c["id"]: c for c in ctx.table("candidates").sort("number").to_dicts()}
    counted = tally(zip(votes["rule_id"].to_list(), votes["verdict"].to_list(), strict=True))
    tallies = {rule_id: counted.get(rule_id, Tally()) for rule_id in candidates}
    reasons = {r: drop_reason(tallies[r], options.min_for_share) for r in candidates}
    shortlist = _shortlist(options, ranked([r for r in candidates if not reasons[r]], tallies),
                           reasons)
    rules = {r: c["rule"] for r, c in candidates.items()}
    themes = dict(zip(shortlist, _themes(options, ctx, [rules[r] for r in shortlist]),
                      strict=True))
    kept = best_of_each(shortlist, [themes[r] for r in shortlist])
    for rule_id in shortlist:
        if rule_id not in kept:
            winner = next(k for k in kept if themes[k] == themes[rule_id])
            reasons[rule_id] = f"same theme as the higher-ranked rule {rules[winner]!r}"
    kit.record("filter_decisions", [_decision(c, tallies[r], reasons[r], themes.get(r))
                                    for r, c in candidates.items()])
    kit.out.rows.extend(_row(rank, candidates[r], tallies[r]) for rank, r in enumerate(kept, 1))
    return kit.out


def _shortlist(options: ConstitutionOptions, passed: list[str],
               reasons: dict[str, str]) -> list[str]:
    """The top ``shortlist`` rules; the rest get their rank as the reason they were dropped."""
    for place, rule_id in enumerate(passed[options.shortlist:], options.shortlist + 1):
        reasons[rule_id] = (f"ranked {place} of {len(passed)}, below the shortlist of"
                            f" {options.shortlist}")
    return passed[:options.shortlist]


def _themes(options: ConstitutionOptions, ctx: GeneratorContext, rules: list[str]) -> list[int]:
    """Each shortlisted rule's group when they are re-clustered into ``max_rules`` groups."""
    if len(rules) <= options.max_rules:
        return list(range(len(rules)))
    vectors = ctx.model("embedder").embed(rules)
    labels, _ = kmeans(vectors, options.max_rules, options.seed, options.kmeans_iterations)
    return labels


def _counts(counts: Tally) -> dict[str, int]:
    return {"votes_for": counts.votes_for, "votes_against": counts.against,
            "votes_abstain": counts.abstain, "votes_invalid": counts.invalid,
            "score": counts.score}


def _decision(candidate: dict[str, Any], counts: Tally, reason: str,
              theme: int | None) -> dict[str, Any]:
    return {"id": candidate["id"], "input_id": candidate["id"], "rule_id": candidate["id"],
            "rule": candidate["rule"], **_counts(counts), "kept": not reason,
            "reason": reason or "kept", "theme": theme}


def _row(rank: int, candidate: dict[str, Any], counts: Tally) -> dict[str, Any]:
    return {"id": candidate["id"], "rank": rank, "rule": candidate["rule"], **_counts(counts),
            "votes": counts.total}
