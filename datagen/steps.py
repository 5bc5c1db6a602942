"""The step kit: chains of structured model calls, shared by every method plugin.

A method is a chain of steps. Each step sends the requests of every live item at once,
grouped by the model that answers them (so all models work side by side), parses and
checks the structured answers, turns rejected answers into failure rows that keep the raw
text, and records its own step table::

    kit = StepKit(ctx)
    asks = [Ask("judge", request, item.input_id) for item in live(items)]
    for item, answer in zip(live(items), kit.structured(asks, check=my_check)):
        if answer is None:       # already a failure row in kit.out.failures
            item.failed = True
    kit.record("labels", rows)   # validated against the generator's step schema by the host
    return kit.out

Checks raise ``CheckFailed`` with a one-line reason; that reason becomes the failure row's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from datagen.generator import BatchOutput, Failure, GeneratorContext
from datagen.llm import ChatRequest, Completion, Model


class CheckFailed(ValueError):
    """A model answer that parsed but breaks a rule (unknown tag, score out of range...)."""


@dataclass(frozen=True)
class Ask:
    """One request of a step: the role that answers it and the input it serves.

    ``index`` picks a model of a list role (cycled over the role's models).
    """

    role: str
    request: ChatRequest
    input_id: str
    index: int = 0


@dataclass
class Answer:
    ask: Ask
    completion: Completion
    data: Any = None


Check = Callable[[Ask, Any], Any]


class StepKit:
    """Runs a generator's steps over one batch (or one whole-dataset stage)."""

    def __init__(self, ctx: GeneratorContext, out: BatchOutput | None = None):
        self.ctx = ctx
        self.out = out if out is not None else BatchOutput()

    def model(self, ask: Ask) -> Model:
        return self.ctx.model(ask.role, ask.index)

    def spec(self, role: str, index: int = 0) -> str:
        """The model spec serving ``role`` (for step tables that say who answered)."""
        return str(getattr(self.ctx.model(role, index), "spec", ""))

    def complete(self, asks: Sequence[Ask]) -> list[Completion]:
        """Answer every ask, in order: one ``complete`` call per distinct model, side by side."""
        return complete_grouped([self.model(a) for a in asks], [a.request for a in asks])

    def structured(self, asks: Sequence[Ask], check: Check | None = None) -> list[Answer | None]:
        """Answer, parse JSON and check; a failed answer is a failure row and ``None`` here."""
        answers: list[Answer | None] = []
        for ask, completion in zip(asks, self.complete(asks), strict=True):
            try:
                data = parse_json_answer(completion)
                if check is not None:
                    data = check(ask, data)
            except CheckFailed as exc:
                self.out.failures.append(self.failure(ask, completion, str(exc)))
                answers.append(None)
                continue
            answers.append(Answer(ask, completion, data))
        return answers

    def record(self, step: str, rows: Iterable[dict[str, Any]]) -> None:
        """Add records to the step table ``step``; the host validates them on the way out."""
        self.out.steps.setdefault(step, []).extend(rows)

    def fail(self, step: str, input_id: str, reason: str, **detail: Any) -> None:
        """A failure row for something that is not a model answer (bad input, a rule)."""
        self.out.failures.append(Failure(step, reason, input_id, detail=detail))

    def failure(self, ask: Ask, completion: Completion, reason: str) -> Failure:
        return Failure(
            step=ask.request.step,
            reason=reason,
            input_id=ask.input_id,
            raw_output=completion.text,
            attempts=completion.attempts,
            detail={
                "role": ask.role,
                "model": self.spec(ask.role, ask.index),
                "finish_reason": completion.finish_reason,
            },
        )


def complete_grouped(models: Sequence[Model], requests: Sequence[ChatRequest]) -> list[Completion]:
    """``models[i]`` answers ``requests[i]``; each distinct model gets one call, in parallel."""
    groups: dict[int, list[int]] = {}
    for position, model in enumerate(models):
        groups.setdefault(id(model), []).append(position)
    results: list[Completion | None] = [None] * len(requests)

    def answer(positions: list[int]) -> None:
        completions = models[positions[0]].complete([requests[p] for p in positions])
        for position, completion in zip(positions, completions, strict=True):
            results[position] = completion

    if len(groups) <= 1:
        for positions in groups.values():
            answer(positions)
    else:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            list(pool.map(answer, groups.values()))
    return [r for r in results if r is not None]


def parse_json_answer(completion: Completion) -> Any:
    """The answer's JSON object, or ``CheckFailed`` saying why there is none."""
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


class Trackable(Protocol):
    failed: bool


T = TypeVar("T", bound=Trackable)


def live(items: Iterable[T]) -> list[T]:
    """The items no step has failed yet."""
    return [item for item in items if not item.failed]


def check_in_range(value: Any, allowed: range, what: str = "score") -> int:
    """``value`` if it is an integer in ``allowed``, else ``CheckFailed``."""
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        raise CheckFailed(f"{what} {value!r} is outside {allowed.start}..{allowed.stop - 1}")
    return value
