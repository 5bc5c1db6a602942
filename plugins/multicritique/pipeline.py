"""The MultiCritique steps over one batch: crucial info, critiques, meta-critique,
aggregation (``critique-sft``) and validated preference pairs (``critique-pref``).

Each step sends the requests of every live item (and every agent) in one go, records its
own table in ``BatchOutput.steps`` and turns bad answers into failure rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from datagen.generator import BatchOutput, stable_id
from datagen.llm import ChatRequest, Model

from . import prompts
from . import request_schemas as schemas
from .calls import Job, structured
from .inputs import Item
from .logic import (
    accumulated_severity,
    merge_duplicates,
    render_final_critique,
)
from .options import LABELS, MultiCritiqueOptions
from .records import CheckFailed, Unit, parse_criteria, parse_units


class Pipeline:
    def __init__(self, options: MultiCritiqueOptions, models: Sequence[Model], output: str = "sft"):
        self.options = options
        self.output = output
        self.models = models
        self.out = BatchOutput()
        self.penalties = {label: options.penalty(label) for label in LABELS}

    @property
    def score_range(self) -> range:
        return range(self.options.score_min, self.options.score_max + 1)

    def run(self, items: list[Item]) -> BatchOutput:
        self.task_descriptions(items)
        self.criteria(items)
        self.references(items)
        self.record_crucial_info(items)
        self.critiques(items)
        self.meta_labels(items)
        severities = self.record_agent_critiques(items)
        if self.output == "sft":
            self.aggregate(items)
        else:
            from .preference import PreferenceStep

            PreferenceStep(self).run(items, severities)
        return self.out

    # -- helpers -------------------------------------------------------------------------

    def request(
        self, step: str, user: str, schema: dict, *, role: str, **params: Any
    ) -> ChatRequest:
        params.setdefault("temperature", self.options.temperature(role))
        params.setdefault("seed", self.options.seed)
        return ChatRequest.chat(
            user,
            step=step,
            json_schema=schema,
            max_tokens=getattr(self.options.max_tokens, step),
            **params,
        )

    def step_rows(self, step: str, rows: list[dict[str, Any]]) -> None:
        self.out.steps.setdefault(step, []).extend(rows)

    def fail_item(self, item: Item) -> None:
        item.failed = True

    @staticmethod
    def live(items: list[Item]) -> list[Item]:
        return [item for item in items if not item.failed]

    # -- crucial information ------------------------------------------------------------

    def crucial_info_step(
        self,
        step: str,
        items: list[Item],
        prompt: Callable[[Item], str],
        schema: dict,
        assign: Callable[[Item, Any], None],
        check: Callable[[Job, Any], Any] | None = None,
    ) -> None:
        """One call per item for a crucial-information step; a failed answer fails the item."""
        jobs = [
            Job(self.options.ci_model, self.request(step, prompt(i), schema, role="ci"), i.input_id)
            for i in items
        ]
        answers = structured(self.models, jobs, self.out.failures, check)
        for item, answer in zip(items, answers, strict=True):
            if answer is None:
                self.fail_item(item)
            else:
                assign(item, answer.data)

    def task_descriptions(self, items: list[Item]) -> None:
        def assign(item: Item, data: Any) -> None:
            item.task = data["task_description"].strip()

        self.crucial_info_step(
            "task_description",
            self.live(items),
            lambda i: prompts.task_description(i.query),
            schemas.task_description_schema(self.options.max_tokens.task_description),
            assign,
        )

    def criteria(self, items: list[Item]) -> None:
        o = self.options
        live = self.live(items)
        by_id = {i.input_id: i for i in live}

        def check(job: Job, data: Any) -> Any:
            item = by_id[job.input_id]
            return parse_criteria(data, item.user_criteria, o.max_criteria, o.max_fine_grained)

        def assign(item: Item, data: Any) -> None:
            item.criteria = data

        self.crucial_info_step(
            "criteria",
            live,
            lambda i: prompts.criteria(
                i.query, i.task, i.user_criteria, (o.max_primary, o.max_fine_grained)
            ),
            schemas.criteria_schema(o.max_primary, o.max_fine_grained, o.max_tokens.criteria),
            assign,
            check,
        )

    def skips_reference(self, item: Item) -> bool:
        return item.task_type in {t.lower() for t in self.options.reference_skip_task_types}

    def references(self, items: list[Item]) -> None:
        wanted = []
        for item in self.live(items):
            if self.skips_reference(item):
                continue
            if item.given_reference:  # a reference the input brings beats a generated one
                item.reference = item.given_reference
            else:
                wanted.append(item)

        def assign(item: Item, data: Any) -> None:
            item.reference = data["reference"].strip()

        self.crucial_info_step(
            "reference",
            wanted,
            lambda i: prompts.reference(i.query, i.task, i.criteria),
            schemas.reference_schema(self.options.max_tokens.reference),
            assign,
        )

    def record_crucial_info(self, items: list[Item]) -> None:
        self.step_rows(
            "crucial_info",
            [
                {
                    "id": stable_id("crucial_info", i.input_id),
                    "input_id": i.input_id,
                    "task_type": i.task_type,
                    "tagged_response": i.tagged.text(),
                    "task_description": i.task,
                    "criteria": [c.as_dict() for c in i.criteria],
                    "reference": i.reference,
                    "reference_skipped": self.skips_reference(i),
                }
                for i in self.live(items)
            ],
        )

    # -- critiques by several agents ----------------------------------------------------

    def critiques(self, items: list[Item]) -> None:
        o = self.options
        jobs, owners = [], []
        for item in self.live(items):
            schema = schemas.critique_schema(
                list(item.tagged.tags),
                item.criteria_names,
                o.max_units_per_agent,
                o.max_tokens.critique,
            )
            text = prompts.critique(
                item.query, item.tagged.text(), item.task, item.criteria, item.reference
            )
            for agent in range(o.agents):
                persona = o.persona(agent)
                request = ChatRequest.chat(
                    text,
                    system=persona.system,
                    step="critique",
                    json_schema=schema,
                    max_tokens=o.max_tokens.critique,
                    temperature=persona.temperature,
                    seed=o.seed + persona.seed + 101 * (agent // len(o.personas)),
                )
                jobs.append(Job(agent, request, item.input_id))
                owners.append((item, agent))
        by_id = {item.input_id: item for item, _ in owners}

        def check(job: Job, data: Any) -> Any:
            item = by_id[job.input_id]
            return parse_units(data, item.tagged.tags, item.criteria_names, o.max_units_per_agent)

        answers = structured(self.models, jobs, self.out.failures, check)
        for (item, agent), answer in zip(owners, answers, strict=True):
            if answer is not None:
                item.units[agent] = self.name_units(item, agent, answer.data)
        for item in self.live(items):
            if not item.units:
                self.fail_item(item)
        self.record_units(items)

    def name_units(self, item: Item, agent: int, units: list[Unit]) -> list[Unit]:
        for index, unit in enumerate(units):
            unit.agent = agent
            unit.id = stable_id("unit", item.input_id, agent, index)
        return units

    def record_units(self, items: list[Item]) -> None:
        rows = []
        for item in self.live(items):
            for agent, units in sorted(item.units.items()):
                for index, unit in enumerate(units):
                    rows.append(
                        {
                            "id": unit.id,
                            "input_id": item.input_id,
                            "agent": agent,
                            "persona": self.options.persona(agent).name,
                            "model": self.model_spec(agent),
                            "unit_index": index,
                            "tags": unit.tags,
                            "criterion": unit.criterion,
                            "description": unit.description,
                            "severity": unit.severity,
                            "suggestion": unit.suggestion,
                        }
                    )
        self.step_rows("critique_units", rows)

    def model_spec(self, index: int) -> str:
        return str(getattr(self.models[index % len(self.models)], "spec", ""))

    # -- meta-critique ------------------------------------------------------------------

    def meta_labels(self, items: list[Item]) -> None:
        jobs, units = [], []
        for item in self.live(items):
            tagged = item.tagged.text()
            for unit in item.all_units():
                request = self.request(
                    "meta_label",
                    prompts.meta_label(item.query, tagged, unit),
                    schemas.meta_label_schema(self.options.max_tokens.meta_label),
                    role="judge",
                )
                jobs.append(Job(self.options.judge_model, request, item.input_id))
                units.append((item, unit))
        rows = []
        answers = structured(self.models, jobs, self.out.failures, _check_label)
        for (item, unit), answer in zip(units, answers, strict=True):
            if answer is None:
                continue
            label = answer.data["label"]
            item.labels[unit.id] = label
            rows.append(
                {
                    "id": stable_id("meta_label", unit.id),
                    "unit_id": unit.id,
                    "input_id": item.input_id,
                    "agent": unit.agent,
                    "label": label,
                    "penalty": self.penalties[label],
                    "reason": answer.data["reason"].strip(),
                }
            )
        self.step_rows("meta_labels", rows)

    def record_agent_critiques(self, items: list[Item]) -> dict[str, dict[int, int]]:
        """Each agent's accumulated severity; critiques with an unlabelled unit get none."""
        rows, severities = [], {}
        for item in self.live(items):
            severities[item.input_id] = {}
            for agent, units in sorted(item.units.items()):
                complete = all(u.id in item.labels for u in units)
                severity = accumulated_severity(
                    (item.labels[u.id] for u in units if u.id in item.labels), self.penalties
                )
                if complete:
                    severities[item.input_id][agent] = severity
                rows.append(
                    {
                        "id": stable_id("agent_critique", item.input_id, agent),
                        "input_id": item.input_id,
                        "agent": agent,
                        "persona": self.options.persona(agent).name,
                        "model": self.model_spec(agent),
                        "units": len(units),
                        "fully_labelled": complete,
                        "accumulated_severity": severity,
                    }
                )
        self.step_rows("agent_critiques", rows)
        return severities

    # -- aggregation into the final critique --------------------------------------------

    def aggregate(self, items: list[Item]) -> None:
        o = self.options
        jobs, plans = [], []
        for item in self.live(items):
            kept = [u for u in item.all_units() if item.labels.get(u.id) in o.keep_labels]
            repairable = [u for u in item.all_units() if item.labels.get(u.id) in o.repair_labels]
            schema = schemas.aggregate_schema(
                item.primary_names,
                len(repairable),
                item.criteria_names,
                self.score_range,
                o.max_tokens.aggregate,
            )
            text = prompts.aggregate(
                item.query,
                item.tagged.text(),
                item.primary_names,
                kept,
                repairable,
                self.score_range,
            )
            jobs.append(
                Job(
                    o.aggregator_model,
                    self.request("aggregate", text, schema, role="aggregate"),
                    item.input_id,
                )
            )
            plans.append((item, kept, repairable))
        answers = structured(self.models, jobs, self.out.failures, self._check_aggregate)
        for (item, kept, repairable), answer in zip(plans, answers, strict=True):
            if answer is None:
                self.fail_item(item)
                continue
            self.write_sft_row(item, kept, repairable, answer.data)

    def _check_aggregate(self, job: Job, data: Any) -> Any:
        if data.get("score") not in self.score_range:
            raise CheckFailed(
                f"score {data.get('score')!r} is outside {self.score_range.start}"
                f"..{self.score_range.stop - 1}"
            )
        summaries = {}
        for entry in data.get("summaries", []):
            summaries.setdefault(entry["criterion"], " ".join(entry["summary"].split()))
        if not summaries:
            raise CheckFailed("the final critique has no summary")
        data["summaries"] = [{"criterion": c, "summary": s} for c, s in summaries.items()]
        return data

    def write_sft_row(
        self, item: Item, kept: list[Unit], repairable: list[Unit], data: Any
    ) -> None:
        repaired = apply_repairs(repairable, data.get("repaired", []), item.criteria_names)
        final_units = merge_duplicates(kept + repaired)
        for unit in final_units:
            unit.id = stable_id("final_unit", item.input_id, unit.tags)
        text = render_final_critique(
            final_units, data["summaries"], data["score"], self.options.score_max
        )
        row_id = stable_id("critique-sft", item.input_id)
        request = prompts.critique_request(item.query, item.tagged.text())
        self.out.rows.append(
            {
                "id": row_id,
                "input_id": item.input_id,
                "query": item.query,
                "response": item.response,
                "task_type": item.task_type,
                "tagged_response": item.tagged.text(),
                "task_description": item.task,
                "criteria": [c.as_dict() for c in item.criteria],
                "reference": item.reference,
                "units": [final_unit_record(u) for u in final_units],
                "summaries": data["summaries"],
                "score": data["score"],
                "critique": text,
                "agents": sorted(item.units),
                "messages": [
                    {"role": "user", "content": request},
                    {"role": "assistant", "content": text},
                ],
            }
        )
        used = {s for u in final_units for s in u.sources}
        self.step_rows(
            "final_critiques",
            [
                {
                    "id": row_id,
                    "input_id": item.input_id,
                    "kept_unit_ids": [u.id for u in kept],
                    "repaired_unit_ids": [s for u in repaired for s in u.sources],
                    "dropped_unit_ids": [u.id for u in item.all_units() if u.id not in used],
                    "final_units": len(final_units),
                    "score": data["score"],
                    "critique": text,
                }
            ],
        )


def _check_label(job: Job, data: Any) -> Any:
    if data.get("label") not in LABELS:
        raise CheckFailed(f"label {data.get('label')!r} is not one of {', '.join(LABELS)}")
    return data


def apply_repairs(
    repairable: list[Unit], repairs: list[dict], criteria_names: list[str]
) -> list[Unit]:
    """Units the aggregator repaired (by number); the ones it left alone are dropped."""
    repaired: dict[int, Unit] = {}
    for fix in repairs:
        number = fix.get("unit")
        if not isinstance(number, int) or not 1 <= number <= len(repairable):
            continue
        if fix.get("criterion") not in criteria_names or number in repaired:
            continue
        base = repairable[number - 1]
        repaired[number] = Unit(
            tags=list(base.tags),
            criterion=fix["criterion"],
            description=base.description,
            severity=fix.get("severity", base.severity),
            suggestion=" ".join(str(fix.get("suggestion", base.suggestion)).split()),
            agent=base.agent,
            id=base.id,
            sources=[base.id],
        )
    return [repaired[n] for n in sorted(repaired)]


def final_unit_record(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "tags": unit.tags,
        "criterion": unit.criterion,
        "description": unit.description,
        "severity": unit.severity,
        "suggestion": unit.suggestion,
        "sources": unit.sources,
    }
