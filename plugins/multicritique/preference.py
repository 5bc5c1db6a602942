"""Preference pairs of critiques, validated by revisions (``critique-pref``).

Two agents' critiques of the same response form a pair when the judge's accumulated
severities differ by at least the gap. The pair survives only if revising the response
along the chosen critique scores higher, on average, than along the rejected one. The
``revisers`` role revises (reviser ``r`` is its model ``r``, cycled) and the ``scorer``
role rates revisions that exact match cannot score.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from datagen.generator import stable_id
from datagen.llm import ChatRequest
from datagen.steps import Ask, StepKit, check_in_range, live

from . import prompts
from . import request_schemas as schemas
from .conversation import critic_conversation
from .critics import Severities
from .inputs import Item
from .logic import (
    Pair,
    empty_critique_may_win,
    exact_match_score,
    preference_pairs,
    render_critique,
    response_flawed,
    revisions_confirm,
)
from .options import MultiCritiqueOptions
from .requests import step_request
from .tagging import is_math_task

Scores = dict[str, dict[int, list[int]]]  # input id -> agent -> revision scores


def preference(
    kit: StepKit, options: MultiCritiqueOptions, items: list[Item], severities: Severities
) -> None:
    candidates = {item.input_id: candidate_pairs(kit, options, item, severities)
                  for item in live(items)}
    with_pairs = [i for i in live(items) if candidates[i.input_id]]
    revisions = revise(kit, options, with_pairs, candidates)
    scores = score(kit, options, with_pairs, revisions)
    for item in with_pairs:
        for pair in candidates[item.input_id]:
            decide(kit, options, item, pair, severities[item.input_id], scores)


def candidate_pairs(
    kit: StepKit, options: MultiCritiqueOptions, item: Item, severities: Severities
) -> list[Pair]:
    """Pairs by severity gap, largest first; an empty critique may not win a pair when the
    meta-critique confirms a flaw (such pairs are recorded as dropped, with the reason)."""
    pairs = preference_pairs(severities.get(item.input_id, {}), options.severity_gap)
    flawed = response_flawed(item.labels.values(), options.flaw_labels)
    allowed = []
    for pair in pairs:
        if empty_critique_may_win(len(item.units[pair.chosen]), flawed):
            allowed.append(pair)
        else:
            kit.record("preference_pairs", [_pair_record(item, pair, None, None, False,
                                                         EMPTY_CHOSEN)])
    return allowed[: options.max_pairs_per_input]


EMPTY_CHOSEN = "dropped: the chosen critique finds no flaw, but the judge confirmed one"


def critique_text(item: Item, options: MultiCritiqueOptions, agent: int) -> str:
    """An agent's complete critique, in the format of the SFT assistant turn."""
    verdict = item.verdicts[agent]
    return render_critique(item.units[agent], verdict.summaries, verdict.score, options.score_max)


# -- revisions ---------------------------------------------------------------------------


def revise(
    kit: StepKit, options: MultiCritiqueOptions, items: list[Item],
    candidates: dict[str, list[Pair]],
) -> list[dict[str, Any]]:
    o = options
    asks, plans = [], []
    schema = schemas.revision_schema(o.max_tokens.revision)
    for item in items:
        agents = sorted({a for p in candidates[item.input_id] for a in (p.chosen, p.rejected)})
        for agent in agents:
            text = prompts.revision(item.query, item.tagged.text(), critique_text(item, o, agent))
            for reviser in range(o.revisers):
                for sample in range(o.revision_samples):
                    request = revision_request(o, text, schema, reviser, sample)
                    asks.append(Ask("revisers", request, item.input_id, reviser))
                    plans.append((item, agent, reviser, sample))
    revisions = []
    for (item, agent, reviser, sample), answer in zip(plans, kit.structured(asks), strict=True):
        if answer is None:
            continue
        revisions.append(
            {
                "id": stable_id("revision", item.input_id, agent, reviser, sample),
                "input_id": item.input_id,
                "agent": agent,
                "reviser": reviser,
                "sample": sample,
                "revised_response": answer.data["revised_response"].strip(),
            }
        )
    return revisions


def revision_request(
    options: MultiCritiqueOptions, text: str, schema: dict, reviser: int, sample: int
) -> ChatRequest:
    """Reviser ``r``'s sample ``k``: its own sample index and seed, so revisers that share a
    model still make distinct calls (and distinct cache entries)."""
    draw = reviser * options.revision_samples + sample
    return ChatRequest.chat(
        text,
        step="revision",
        json_schema=schema,
        max_tokens=options.max_tokens.revision,
        temperature=options.temperature("revision"),
        top_p=options.top_p_of("revision"),
        top_k=options.top_k_of("revision"),
        seed=options.seed + draw,
        sample_index=draw,
    )


# -- scoring -----------------------------------------------------------------------------


def exact_match_reference(options: MultiCritiqueOptions, item: Item) -> str:
    if options.math_exact_match and is_math_task(item.task_type):
        return item.given_reference
    return ""


def score(
    kit: StepKit, options: MultiCritiqueOptions, items: list[Item],
    revisions: list[dict[str, Any]],
) -> Scores:
    """Scores per input and agent; math with a known answer is scored by exact match."""
    by_id = {i.input_id: i for i in items}
    to_model = []
    for revision in revisions:
        reference = exact_match_reference(options, by_id[revision["input_id"]])
        if reference:
            revision["score"] = exact_match_score(
                revision["revised_response"], reference, options.score_range
            )
            revision["scored_by"] = "exact_match"
        else:
            to_model.append(revision)
    model_scores(kit, options, by_id, to_model)
    kit.record("revisions", revisions)
    scores: Scores = {}
    for revision in revisions:
        if revision.get("score") is not None:
            scores.setdefault(revision["input_id"], {}).setdefault(
                revision["agent"], []
            ).append(revision["score"])
    return scores


def model_scores(
    kit: StepKit, options: MultiCritiqueOptions, by_id: dict[str, Item],
    revisions: list[dict[str, Any]],
) -> None:
    score_range = options.score_range
    asks = [
        Ask(
            "scorer",
            step_request(
                options, "score",
                prompts.score(by_id[r["input_id"]].query, r["revised_response"], score_range),
                schemas.score_schema(score_range),
                role="score",
            ),
            r["input_id"],
        )
        for r in revisions
    ]

    def check(ask: Ask, data: Any) -> Any:
        check_in_range(data.get("score"), score_range)
        return data

    for revision, answer in zip(revisions, kit.structured(asks, check), strict=True):
        revision["score"] = None if answer is None else answer.data["score"]
        revision["scored_by"] = "model"


# -- the pair ----------------------------------------------------------------------------


def decide(
    kit: StepKit, options: MultiCritiqueOptions, item: Item, pair: Pair,
    severities: dict[int, int], scores: Scores,
) -> None:
    chosen_scores = scores.get(item.input_id, {}).get(pair.chosen, [])
    rejected_scores = scores.get(item.input_id, {}).get(pair.rejected, [])
    kept = revisions_confirm(chosen_scores, rejected_scores)
    chosen_mean = float(mean(chosen_scores)) if chosen_scores else None
    rejected_mean = float(mean(rejected_scores)) if rejected_scores else None
    reason = "kept: revisions along the chosen critique score higher" if kept else (
        "dropped: revisions along the chosen critique do not score higher"
    )
    record = _pair_record(item, pair, chosen_mean, rejected_mean, kept, reason)
    kit.record("preference_pairs", [record])
    if kept:
        kit.out.rows.append(
            pref_row(item, options, pair, record["id"], severities, chosen_mean, rejected_mean)
        )


def _pair_record(
    item: Item, pair: Pair, chosen_mean: float | None, rejected_mean: float | None,
    kept: bool, reason: str,
) -> dict[str, Any]:
    return {
        "id": stable_id("critique-pref", item.input_id, pair.chosen, pair.rejected),
        "input_id": item.input_id,
        "chosen_agent": pair.chosen,
        "rejected_agent": pair.rejected,
        "severity_gap": pair.gap,
        "chosen_revision_score": chosen_mean,
        "rejected_revision_score": rejected_mean,
        "kept": kept,
        "reason": reason,
    }


def pref_row(
    item: Item,
    options: MultiCritiqueOptions,
    pair: Pair,
    pair_id: str,
    severities: dict[int, int],
    chosen_mean: float | None,
    rejected_mean: float | None,
) -> dict[str, Any]:
    """Prompt and both answers in the SFT conversation's format (complete critiques)."""
    prompt, chosen = critic_conversation(item, options, critique_text(item, options, pair.chosen))
    _, rejected = critic_conversation(item, options, critique_text(item, options, pair.rejected))
    return {
        "id": pair_id,
        "input_id": item.input_id,
        "query": item.query,
        "response": item.response,
        "task_type": item.task_type,
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "chosen_agent": pair.chosen,
        "rejected_agent": pair.rejected,
        "chosen_severity": severities[pair.chosen],
        "rejected_severity": severities[pair.rejected],
        "severity_gap": pair.gap,
        "chosen_revision_score": float(chosen_mean or 0.0),
        "rejected_revision_score": float(rejected_mean or 0.0),
    }
