"""Asking simulated annotators which output of a pair is better.

One job is (pair, annotator). In "seeded" order the annotator sees the pair once, in a
seeded order that is recorded; in "both" orders it sees it twice and only an answer that
survives the swap counts. Every call is a row of the ``judgements`` step table; answers
that are not a valid verdict are failure rows with the raw text.
"""

from __future__ import annotations

from dataclasses import dataclass

from datagen.generator import Failure
from datagen.llm import ChatRequest
from datagen.steps import Answer, Ask, StepKit, check_in_range

from .logic import Label, combine_orders, shown_swapped, unswap
from .options import Annotator, PrefsOptions
from .pairs import Pair
from .prompts import annotator_prompt, annotator_system
from .request_schemas import reasoned_schema, verdict_schema

STEP = "annotate"


@dataclass(frozen=True)
class Job:
    pair: Pair
    annotator: int  # index into options.annotators


@dataclass(frozen=True)
class Judged:
    """An annotator's label for a pair, in the pair's own order."""

    job: Job
    label: Label
    raw: str
    reason: str
    shown: str  # "1-2", "2-1" or "both"
    model: str


def orders(options: PrefsOptions, job: Job) -> list[bool]:
    """The orders the job's pair is shown in: ``True`` means swapped."""
    if options.order == "both":
        return [False, True]
    name = options.annotators[job.annotator].name
    return [shown_swapped(job.pair.pair_id, options.seed, name)]


def ask_for(options: PrefsOptions, job: Job, swapped: bool) -> Ask:
    annotator = options.annotators[job.annotator]
    pair = job.pair
    first, second = (pair.output_2, pair.output_1) if swapped else (pair.output_1, pair.output_2)
    tokens = options.tokens_for(annotator)
    schema = reasoned_schema(tokens) if annotator.template == "reasoned" else verdict_schema()
    request = ChatRequest.chat(
        annotator_prompt(pair.instruction, first, second, options.max_output_chars),
        system=annotator_system(annotator), step=STEP, json_schema=schema,
        max_tokens=tokens, temperature=annotator.temperature, seed=options.seed,
        sample_index=int(swapped),
    )
    model_index = job.annotator if annotator.model is None else annotator.model
    return Ask("annotators", request, pair.pair_id, index=model_index)


def _check(ask: Ask, data: dict) -> dict:
    check_in_range(data.get("preferred"), range(1, 3), "preferred")
    return data


def judge(kit: StepKit, options: PrefsOptions, jobs: list[Job]) -> list[Judged | None]:
    """Each job's label (None where a call failed or the order changed the answer)."""
    plan = [(job, swapped) for job in jobs for swapped in orders(options, job)]
    asks = [ask_for(options, job, swapped) for job, swapped in plan]
    answers = kit.structured(asks, check=_check)
    kit.record("judgements", [
        _judgement_record(kit, options, job, swapped, answer)
        for (job, swapped), answer in zip(plan, answers, strict=True) if answer is not None
    ])
    per_job = len(plan) // len(jobs) if jobs else 1
    return [
        _combine(kit, options, job, plan[i * per_job:(i + 1) * per_job],
                 answers[i * per_job:(i + 1) * per_job])
        for i, job in enumerate(jobs)
    ]


def _judgement_record(kit: StepKit, options: PrefsOptions, job: Job, swapped: bool,
                      answer: Answer) -> dict:
    annotator = options.annotators[job.annotator]
    shown_label = answer.data["preferred"]
    return {
        "id": f"{job.pair.pair_id}:{annotator.name}:{int(swapped)}",
        "input_id": job.pair.pair_id,
        "annotator": annotator.name,
        "model": kit.spec(answer.ask.role, answer.ask.index),
        "shown_swapped": swapped,
        "shown_preference": shown_label,
        "preference": unswap(shown_label, swapped),
        "reason": str(answer.data.get("reason", "")),
        "raw_answer": answer.completion.text,
    }


def _combine(kit: StepKit, options: PrefsOptions, job: Job, plan: list[tuple[Job, bool]],
             answers: list[Answer | None]) -> Judged | None:
    given = [a for a in answers if a is not None]
    if len(given) < len(answers):
        return None
    labels = [unswap(a.data["preferred"], swapped)
              for (_, swapped), a in zip(plan, given, strict=True)]
    raw = "\n".join(a.completion.text for a in given)
    annotator = options.annotators[job.annotator]
    label = labels[0] if len(labels) == 1 else combine_orders(labels[0], labels[1])
    if label is None:
        kit.out.failures.append(_order_failure(job, annotator, raw))
        return None
    first: Answer = answers[0]  # type: ignore[assignment]
    shown = "both" if len(plan) == 2 else ("2-1" if plan[0][1] else "1-2")
    return Judged(job, label, raw, str(first.data.get("reason", "")), shown,
                  kit.spec(first.ask.role, first.ask.index))


def _order_failure(job: Job, annotator: Annotator, raw: str) -> Failure:
    return Failure(STEP, f"annotator {annotator.name!r} changed its preference when the"
                   " outputs were swapped (position bias)", job.pair.pair_id, raw_output=raw,
                   detail={"annotator": annotator.name})
