"""Preference pairs of critiques, validated by revisions (``critique-pref``).

Two agents' critiques of the same response form a pair when the judge's accumulated
severities differ by at least the gap. The pair survives only if revising the response
along the chosen critique scores higher, on average, than along the rejected one.
"""

from __future__ import annotations

from statistics import mean
from typing import TYPE_CHECKING, Any

from datagen.generator import stable_id
from datagen.llm import ChatRequest

from . import prompts
from . import request_schemas as schemas
from .calls import Job, structured
from .inputs import Item
from .logic import Pair, exact_match_score, preference_pairs, render_units, revisions_confirm
from .records import CheckFailed
from .tagging import is_math_task

if TYPE_CHECKING:
    from .pipeline import Pipeline


class PreferenceStep:
    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.options = pipeline.options

    def reviser_indices(self) -> tuple[int, ...]:
        return self.options.reviser_models or tuple(range(self.options.agents))

    def run(self, items: list[Item], severities: dict[str, dict[int, int]]) -> None:
        candidates = {
            item.input_id: preference_pairs(
                severities.get(item.input_id, {}), self.options.severity_gap
            )
            for item in self.pipeline.live(items)
        }
        with_pairs = [i for i in self.pipeline.live(items) if candidates[i.input_id]]
        revisions = self.revise(with_pairs, candidates)
        scores = self.score(with_pairs, revisions)
        for item in with_pairs:
            for pair in candidates[item.input_id]:
                self.decide(item, pair, severities[item.input_id], scores)

    # -- revisions ----------------------------------------------------------------------

    def revise(self, items: list[Item], candidates: dict[str, list[Pair]]) -> list[dict[str, Any]]:
        o = self.options
        jobs, plans = [], []
        for item in items:
            agents = sorted({a for p in candidates[item.input_id] for a in (p.chosen, p.rejected)})
            for agent in agents:
                text = prompts.revision(item.query, item.response, render_units(item.units[agent]))
                for reviser in self.reviser_indices():
                    for sample in range(o.revision_samples):
                        request = ChatRequest.chat(
                            text,
                            step="revision",
                            json_schema=schemas.revision_schema(o.max_tokens.revision),
                            max_tokens=o.max_tokens.revision,
                            temperature=o.temperature("revision"),
                            seed=o.seed + sample,
                            sample_index=sample,
                        )
                        jobs.append(Job(reviser, request, item.input_id))
                        plans.append((item, agent, reviser, sample))
        answers = structured(self.pipeline.models, jobs, self.pipeline.out.failures)
        revisions = []
        for (item, agent, reviser, sample), answer in zip(plans, answers, strict=True):
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

    # -- scoring ------------------------------------------------------------------------

    def exact_match_reference(self, item: Item) -> str:
        if self.options.math_exact_match and is_math_task(item.task_type):
            return item.given_reference
        return ""

    def score(
        self, items: list[Item], revisions: list[dict[str, Any]]
    ) -> dict[str, dict[int, list[int]]]:
        """Scores per input and agent; math with a known answer is scored by exact match."""
        by_id = {i.input_id: i for i in items}
        score_range = self.pipeline.score_range
        to_model = []
        for revision in revisions:
            reference = self.exact_match_reference(by_id[revision["input_id"]])
            if reference:
                revision["score"] = exact_match_score(
                    revision["revised_response"], reference, score_range
                )
                revision["scored_by"] = "exact_match"
            else:
                to_model.append(revision)
        self.model_scores(by_id, to_model)
        self.pipeline.step_rows("revisions", revisions)
        scores: dict[str, dict[int, list[int]]] = {}
        for revision in revisions:
            if revision.get("score") is not None:
                scores.setdefault(revision["input_id"], {}).setdefault(
                    revision["agent"], []
                ).append(revision["score"])
        return scores

    def model_scores(self, by_id: dict[str, Item], revisions: list[dict[str, Any]]) -> None:
        score_range = self.pipeline.score_range
        jobs = [
            Job(
                self.options.scorer_model,
                self.pipeline.request(
                    "score",
                    prompts.score(by_id[r["input_id"]].query, r["revised_response"], score_range),
                    schemas.score_schema(score_range),
                    role="score",
                ),
                r["input_id"],
            )
            for r in revisions
        ]

        def check(job: Job, data: Any) -> Any:
            if data.get("score") not in score_range:
                raise CheckFailed(
                    f"score {data.get('score')!r} is outside {score_range.start}"
                    f"..{score_range.stop - 1}"
                )
            return data

        answers = structured(self.pipeline.models, jobs, self.pipeline.out.failures, check)
        for revision, answer in zip(revisions, answers, strict=True):
            revision["score"] = None if answer is None else answer.data["score"]
            revision["scored_by"] = "model"

    # -- the pair ------------------------------------------------------------------------

    def decide(
        self,
        item: Item,
        pair: Pair,
        severities: dict[int, int],
        scores: dict[str, dict[int, list[int]]],
    ) -> None:
        chosen_scores = scores.get(item.input_id, {}).get(pair.chosen, [])
        rejected_scores = scores.get(item.input_id, {}).get(pair.rejected, [])
        kept = revisions_confirm(chosen_scores, rejected_scores)
        pair_id = stable_id("critique-pref", item.input_id, pair.chosen, pair.rejected)
        chosen_mean = float(mean(chosen_scores)) if chosen_scores else None
        rejected_mean = float(mean(rejected_scores)) if rejected_scores else None
        self.pipeline.step_rows(
            "preference_pairs",
            [
                {
                    "id": pair_id,
                    "input_id": item.input_id,
                    "chosen_agent": pair.chosen,
                    "rejected_agent": pair.rejected,
                    "severity_gap": pair.gap,
                    "chosen_revision_score": chosen_mean,
                    "rejected_revision_score": rejected_mean,
                    "kept": kept,
                }
            ],
        )
        if kept:
            self.write_row(item, pair, pair_id, severities, chosen_mean, rejected_mean)

    def write_row(
        self,
        item: Item,
        pair: Pair,
        pair_id: str,
        severities: dict[int, int],
        chosen_mean: float | None,
        rejected_mean: float | None,
    ) -> None:
        request = prompts.critique_request(item.query, item.tagged.text())
        self.pipeline.out.rows.append(
            {
                "id": pair_id,
                "input_id": item.input_id,
                "query": item.query,
                "response": item.response,
                "task_type": item.task_type,
                "prompt": [{"role": "user", "content": request}],
                "chosen": [{"role": "assistant", "content": render_units(item.units[pair.chosen])}],
                "rejected": [
                    {"role": "assistant", "content": render_units(item.units[pair.rejected])}
                ],
                "chosen_agent": pair.chosen,
                "rejected_agent": pair.rejected,
                "chosen_severity": severities[pair.chosen],
                "rejected_severity": severities[pair.rejected],
                "severity_gap": pair.gap,
                "chosen_revision_score": float(chosen_mean),
                "rejected_revision_score": float(rejected_mean),
            }
        )
