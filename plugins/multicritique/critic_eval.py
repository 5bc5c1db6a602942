"""Running a critic over a labelled set (``critique-eval``): one critique per item.

The critic is asked exactly as the ``critique-sft`` conversation trains it: first the crucial
information, then (a second turn, or the same one for ``single_turn``) the critique with its
units, summaries and score. The answers are free text, read back here: the score from its
``Score: N/10`` line and the cited tags from the flaws before the summary. A critique whose
score cannot be read is kept as a row with ``parse_valid = false`` (that rate is one of the
metrics); a call that fails outright is a failure row.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import Field

from datagen.generator import BatchOutput, Generator, GeneratorContext, GeneratorOptions
from datagen.llm import ChatRequest, Completion, Message
from datagen.roles import Role
from datagen.steps import Ask, StepKit

from . import prompts
from .tagging import tag_response

_SCORE = re.compile(r"score\s*[:=]?\s*(\d{1,2})\s*(?:/\s*10\b|out of 10\b)?", re.IGNORECASE)
_TAG = re.compile(r"\[(S\d+)\]")


class CritiqueEvalOptions(GeneratorOptions):
    """How the critic is asked; ``max_tokens`` bounds each of its answers."""

    turns: Literal["multi_turn", "single_turn"] = "multi_turn"
    max_tokens: int = Field(1024, ge=16)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    score_min: int = 1
    score_max: int = 10


class CritiqueEval(Generator):
    """The critic's critique of every labelled item, with its score and cited tags read back."""

    name: ClassVar[str] = "critique-eval"
    description: ClassVar[str] = (
        "A critic's critiques of a labelled set (critique-heldout), read back for scoring"
    )
    Options = CritiqueEvalOptions
    output_schema: ClassVar[str] = "critique-eval"
    roles: ClassVar[tuple[Role, ...]] = (Role("critic", "the critic model being evaluated"),)
    input_columns: ClassVar[tuple[str, ...]] = ("id", "query", "response", "errors", "error_tags")
    batch_size: ClassVar[int] = 16

    options: CritiqueEvalOptions

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        items = batch.to_dicts()
        firsts = [prompts.critic_first_turn(i["query"], tag_response(i["response"]).text())
                  for i in items]
        second = prompts.critic_second_turn(range(1, self.options.score_max + 1), True)
        if self.options.turns == "single_turn":
            turns = [[("user", f"{f}\n\n{second}")] for f in firsts]
            answers = self._ask(kit, items, turns, "critique")
            crucial: list[str | None] = ["" for _ in items]
        else:
            crucial = self._ask(kit, items, [[("user", f)] for f in firsts], "crucial_info")
            turns = [
                [("user", f), ("assistant", c or ""), ("user", second)]
                for f, c in zip(firsts, crucial, strict=True)
            ]
            answers = self._ask(kit, items, turns, "critique")
        for item, info, answer in zip(items, crucial, answers, strict=True):
            if answer is not None and info is not None:
                kit.out.rows.append(self._row(item, info, answer))
        return kit.out

    def _ask(
        self, kit: StepKit, items: list[dict[str, Any]], turns: list[list[tuple[str, str]]],
        step: str,
    ) -> list[str | None]:
        """Free-text answers; a failed call is a failure row and ``None``."""
        asks = [
            Ask("critic", self._request(t, step), str(i["id"]))
            for i, t in zip(items, turns, strict=True)
        ]
        texts: list[str | None] = []
        for ask, completion in zip(asks, kit.complete(asks), strict=True):
            texts.append(_text_or_fail(kit, ask, completion))
        return texts

    def _request(self, turns: list[tuple[str, str]], step: str) -> ChatRequest:
        return ChatRequest(
            messages=tuple(Message(role, content) for role, content in turns),
            max_tokens=self.options.max_tokens,
            temperature=self.options.temperature,
            seed=self.options.seed,
            step=step,
        )

    def _row(self, item: dict[str, Any], crucial: str, critique: str) -> dict[str, Any]:
        tags = tag_response(item["response"]).tags
        score, cited = read_critique(critique, tags, range(1, self.options.score_max + 1))
        return {
            "id": str(item["id"]),
            "input_id": str(item["id"]),
            "kind": str(item.get("kind") or ""),
            "errors": int(item["errors"]),
            "error_tags": list(item["error_tags"] or []),
            "crucial_info": crucial,
            "critique": critique,
            "score": score,
            "cited_tags": cited,
            "parse_valid": score is not None,
        }


def _text_or_fail(kit: StepKit, ask: Ask, completion: Completion) -> str | None:
    if completion.error is not None:
        kit.out.failures.append(kit.failure(ask, completion, completion.error))
        return None
    return completion.text


def read_critique(text: str, tags: tuple[str, ...], allowed: range) -> tuple[int | None, list[str]]:
    """(score or None, cited tags in order) from a free-text critique.

    The score is the last ``Score: N`` (``/10`` optional) inside ``allowed``; cited tags are
    the response's tags named before the summary (the whole text when there is none).
    """
    scores = [int(m.group(1)) for m in _SCORE.finditer(text)]
    score = next((s for s in reversed(scores) if s in allowed), None)
    flaws = re.split(r"\n\s*summary\s*:", text, maxsplit=1, flags=re.IGNORECASE)[0]
    cited = [t for t in dict.fromkeys(_TAG.findall(flaws)) if t in tags]
    return score, cited
