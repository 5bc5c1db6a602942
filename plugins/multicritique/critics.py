"""Critiques from several agents, and the judge's meta-critique of every unit.

Agent ``i`` is played by model ``i`` of the ``agents`` role (cycled when the role lists
fewer models than ``options.agents``); the ``judge`` role labels each unit L0-L6, and an
agent's accumulated severity is the sum of its units' penalties.
"""

from __future__ import annotations

from typing import Any

from datagen.generator import stable_id
from datagen.llm import ChatRequest
from datagen.steps import Ask, CheckFailed, StepKit, check_in_range, live

from . import prompts
from . import request_schemas as schemas
from .inputs import Item
from .logic import accumulated_severity
from .options import LABELS, MultiCritiqueOptions
from .records import Unit, Verdict, parse_summaries, parse_units
from .requests import step_request

Severities = dict[str, dict[int, int]]  # input id -> agent -> accumulated severity

PERSONA_LEAD = "Review it in this role: "


def agent_critiques(kit: StepKit, options: MultiCritiqueOptions, items: list[Item]) -> None:
    o = options
    personas = persona_agents(kit, o)
    asks: list[Ask] = []
    for item in live(items):
        schema = schemas.critique_schema(
            list(item.tagged.tags), item.criteria_names, item.primary_names,
            o.max_units_per_agent, o.score_range, o.max_tokens.critique,
        )
        text = prompts.critique(
            item.query, item.tagged.text(), item.task, item.criteria, item.reference,
            o.score_range,
        )
        asks.extend(
            Ask("agents", _critique_request(o, text, schema, agent, agent in personas),
                item.input_id, agent)
            for agent in range(o.agents)
        )
    by_id = {item.input_id: item for item in live(items)}

    def check(ask: Ask, data: Any) -> Any:
        item = by_id[ask.input_id]
        check_in_range(data.get("score"), o.score_range)
        units = parse_units(data, item.tagged.tags, item.criteria_names, o.max_units_per_agent)
        return units, Verdict(parse_summaries(data), data["score"])

    for ask, answer in zip(asks, kit.structured(asks, check), strict=True):
        if answer is not None:
            item, (units, verdict) = by_id[ask.input_id], answer.data
            item.units[ask.index] = _name_units(ask.input_id, ask.index, units)
            item.verdicts[ask.index] = verdict
    for item in live(items):
        if not item.units:
            item.failed = True
    kit.record("critique_units", _unit_records(kit, o, live(items), personas))


def persona_agents(kit: StepKit, options: MultiCritiqueOptions) -> set[int]:
    """Agents played by a model that another agent also plays: only these get personas."""
    specs = [kit.spec("agents", agent) for agent in range(options.agents)]
    return {agent for agent, spec in enumerate(specs) if specs.count(spec) > 1}


def _critique_request(
    options: MultiCritiqueOptions, text: str, schema: dict, agent: int, persona: bool
) -> ChatRequest:
    params: dict[str, Any] = {
        "step": "critique",
        "json_schema": schema,
        "max_tokens": options.max_tokens.critique,
        "top_p": options.top_p_of("critique"),
    }
    if not persona:  # a model of its own: diversity comes from the model
        return ChatRequest.chat(
            text, temperature=options.temperature("critique"), seed=options.seed + agent,
            **params,
        )
    chosen = options.persona(agent)
    # The persona closes the prompt rather than opening it as a system prompt, so the four
    # agents' requests about one response share everything before it (read once).
    return ChatRequest.chat(
        f"{text}\n\n{PERSONA_LEAD}{chosen.system}",
        temperature=chosen.temperature,
        seed=options.seed + chosen.seed + 101 * (agent // len(options.personas)),
        **params,
    )


def _name_units(input_id: str, agent: int, units: list[Unit]) -> list[Unit]:
    for index, unit in enumerate(units):
        unit.agent = agent
        unit.id = stable_id("unit", input_id, agent, index)
    return units


def persona_name(options: MultiCritiqueOptions, agent: int, personas: set[int]) -> str:
    return options.persona(agent).name if agent in personas else ""


def _unit_records(
    kit: StepKit, options: MultiCritiqueOptions, items: list[Item], personas: set[int]
) -> list[dict[str, Any]]:
    return [
        {
            "id": unit.id,
            "input_id": item.input_id,
            "agent": agent,
            "persona": persona_name(options, agent, personas),
            "model": kit.spec("agents", agent),
            "unit_index": index,
            "tags": unit.tags,
            "criterion": unit.criterion,
            "description": unit.description,
            "severity": unit.severity,
            "suggestion": unit.suggestion,
        }
        for item in items
        for agent, units in sorted(item.units.items())
        for index, unit in enumerate(units)
    ]


def meta_critique(kit: StepKit, options: MultiCritiqueOptions, items: list[Item]) -> Severities:
    """Label every unit, record the labels and each agent's accumulated severity."""
    penalties = options.penalties_by_label()
    asks, units = [], []
    schema = schemas.meta_label_schema(options.max_tokens.meta_label)
    for item in live(items):
        tagged, context = item.tagged.text(), item.crucial_context()
        everything = item.all_units()
        for index, unit in enumerate(everything):
            text = prompts.meta_label(item.query, tagged, context, everything, index)
            request = step_request(options, "meta_label", text, schema, role="judge")
            asks.append(Ask("judge", request, item.input_id))
            units.append((item, unit))
    rows = []
    for (item, unit), answer in zip(units, kit.structured(asks, _check_label), strict=True):
        if answer is None:
            continue
        label, reason = answer.data["label"], answer.data["reason"].strip()
        item.labels[unit.id], item.reasons[unit.id] = label, reason
        rows.append(
            {
                "id": stable_id("meta_label", unit.id),
                "unit_id": unit.id,
                "input_id": item.input_id,
                "agent": unit.agent,
                "label": label,
                "penalty": penalties[label],
                "reason": reason,
            }
        )
    kit.record("meta_labels", rows)
    return _agent_severities(kit, options, live(items))


def _check_label(ask: Ask, data: Any) -> Any:
    if data.get("label") not in LABELS:
        raise CheckFailed(f"label {data.get('label')!r} is not one of {', '.join(LABELS)}")
    return data


def _agent_severities(
    kit: StepKit, options: MultiCritiqueOptions, items: list[Item]
) -> Severities:
    """Each agent's accumulated severity; critiques with an unlabelled unit get none."""
    penalties = options.penalties_by_label()
    personas = persona_agents(kit, options)
    rows: list[dict[str, Any]] = []
    severities: Severities = {}
    for item in items:
        severities[item.input_id] = {}
        for agent, units in sorted(item.units.items()):
            complete = all(u.id in item.labels for u in units)
            severity = accumulated_severity(
                (item.labels[u.id] for u in units if u.id in item.labels), penalties
            )
            if complete:
                severities[item.input_id][agent] = severity
            rows.append(
                {
                    "id": stable_id("agent_critique", item.input_id, agent),
                    "input_id": item.input_id,
                    "agent": agent,
                    "persona": persona_name(options, agent, personas),
                    "model": kit.spec("agents", agent),
                    "units": len(units),
                    "score": item.verdicts[agent].score,
                    "fully_labelled": complete,
                    "accumulated_severity": severity,
                }
            )
    kit.record("agent_critiques", rows)
    return severities
