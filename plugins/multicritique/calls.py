"""Sending a step's requests to the right models, all at once, and reading the answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from datagen.generator import Failure
from datagen.llm import ChatRequest, Completion, Model

from .records import CheckFailed


@dataclass
class Job:
    """One request of a step, the model role that answers it and whose input it serves."""

    model_index: int
    request: ChatRequest
    input_id: str


@dataclass
class Answer:
    job: Job
    completion: Completion
    data: Any = None


def run_jobs(models: Sequence[Model], jobs: Sequence[Job]) -> list[Completion]:
    """Answer every job in order. One ``complete`` call per distinct model, run side by side,
    so all rows and agents of a batch are in flight together."""
    if not jobs:
        return []
    by_model: dict[int, list[int]] = {}
    for position, job in enumerate(jobs):
        model = models[job.model_index % len(models)]
        by_model.setdefault(id(model), []).append(position)
    results: list[Completion | None] = [None] * len(jobs)

    def answer(positions: list[int]) -> None:
        model = models[jobs[positions[0]].model_index % len(models)]
        completions = model.complete([jobs[p].request for p in positions])
        for position, completion in zip(positions, completions, strict=True):
            results[position] = completion

    groups = list(by_model.values())
    if len(groups) == 1:
        answer(groups[0])
    else:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            list(pool.map(answer, groups))
    return [r for r in results if r is not None]


def structured(
    models: Sequence[Model],
    jobs: Sequence[Job],
    failures: list[Failure],
    check: Callable[[Job, Any], Any] | None = None,
) -> list[Answer | None]:
    """Run jobs and parse their JSON; errors and failed checks become failure rows (None)."""
    answers: list[Answer | None] = []
    for job, completion in zip(jobs, run_jobs(models, jobs), strict=True):
        try:
            data = _parse(completion)
            if check is not None:
                data = check(job, data)
        except CheckFailed as exc:
            failures.append(_failure(job, completion, str(exc)))
            answers.append(None)
            continue
        answers.append(Answer(job, completion, data))
    return answers


def _parse(completion: Completion) -> Any:
    if completion.error is not None:
        raise CheckFailed(completion.error)
    if completion.data is not None:
        return completion.data
    try:
        data = json.loads(completion.text)
    except json.JSONDecodeError as exc:
        cut = " (cut off at max_tokens)" if completion.finish_reason == "length" else ""
        raise CheckFailed(f"the answer is not valid JSON{cut}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise CheckFailed("the answer is not a JSON object")
    return data


def _failure(job: Job, completion: Completion, reason: str) -> Failure:
    return Failure(
        step=job.request.step,
        reason=reason,
        input_id=job.input_id,
        raw_output=completion.text,
        attempts=completion.attempts,
        detail={"model_index": job.model_index, "finish_reason": completion.finish_reason},
    )
