"""The ``feedback-eval`` generator: answers to a feedback-prefs dataset's test prompts from the
evaluated model, compared by a judge with baseline answers on a 1-5 scale."""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from datagen.generator import BatchOutput, Generator, GeneratorContext, stable_id
from datagen.roles import Role
from datagen.steps import Ask, StepKit, check_in_range

from . import logic, prompts
from .options import FeedbackEvalOptions
from .requests import JUDGE, answer_request
from .responding import usable

EVAL_COLUMNS = ("prompt_id", "feedback_id", "feedback", "domain", "kind", "split", "prompt",
                "chosen", "rejected")


class FeedbackEval(Generator):
    """Judged answers of a model (adapted, or prompted in context) against baselines."""

    name: ClassVar[str] = "feedback-eval"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = (
        "Judge scores of a model's answers to a feedback-prefs test split (C3PO evaluation)"
    )
    Options = FeedbackEvalOptions
    output_schema: ClassVar[str] = "feedback-eval"
    roles: ClassVar[tuple[Role, ...]] = (
        Role("model", "the model evaluated (the adapted one, or the base one in context)"),
        Role("baseline", "the model compared against (unless the dataset's baselines are used)"),
        Role("judge", "rates which answer follows the feedback more, 1-5"),
    )
    input_columns: ClassVar[tuple[str, ...]] = EVAL_COLUMNS
    batch_size: ClassVar[int] = 16

    options: FeedbackEvalOptions

    def model_roles(self) -> tuple[Role, ...]:
        if self.options.baseline_from_dataset:
            return tuple(r for r in self.roles if r.name != "baseline")
        return self.roles

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        items = [_item(r) for r in batch.to_dicts()
                 if not self.options.split or r["split"] == self.options.split]
        answers = self.answers(kit, "model", items, self.options.in_context)
        base = ({i["prompt_id"]: i["stored_baseline"] for i in items}
                if self.options.baseline_from_dataset
                else self.answers(kit, "baseline", items, False))
        judged = [i for i in items if i["prompt_id"] in answers and i["prompt_id"] in base]
        self.judge(kit, judged, answers, base)
        return kit.out

    def answers(self, kit: StepKit, role: str, items: list[dict[str, Any]],
                in_context: bool) -> dict[str, str]:
        asks = [Ask(role, answer_request(
            i["prompt"], step=f"{role}_answer", max_tokens=self.options.answer_max_tokens,
            temperature=self.options.temperature, seed=self.options.seed,
            system=prompts.in_context_system(i["feedback"], i["domain"]) if in_context else None,
        ), i["prompt_id"]) for i in items]
        return {ask.input_id: completion.text.strip()
                for ask, completion in zip(asks, kit.complete(asks), strict=True)
                if usable(kit, ask, completion)}

    def judge(self, kit: StepKit, items: list[dict[str, Any]], answers: dict[str, str],
              base: dict[str, str]) -> None:
        """A is the baseline, B the evaluated answer (5 = B follows the feedback much more);
        with ``both_orders`` each pair is judged again swapped and the two scores averaged."""
        orders = [False, True] if self.options.both_orders else [False]
        pairs = [(i, swapped) for i in items for swapped in orders]
        asks = [self.judge_ask(i, answers[i["prompt_id"]], base[i["prompt_id"]], swapped)
                for i, swapped in pairs]
        scores: dict[str, list[int | None]] = {i["prompt_id"]: [] for i in items}
        for (item, swapped), answer in zip(pairs, kit.structured(asks, _score), strict=True):
            score = None if answer is None else (6 - answer.data if swapped else answer.data)
            scores[item["prompt_id"]].append(score)
        for item in items:
            found = scores[item["prompt_id"]]
            if None not in found:  # a failed order already left its failure row
                kit.out.rows.append(self.row(item, answers[item["prompt_id"]],
                                             base[item["prompt_id"]], found))

    def judge_ask(self, item: dict[str, Any], answer: str, baseline: str, swapped: bool) -> Ask:
        first, second = (answer, baseline) if swapped else (baseline, answer)
        request = answer_request(
            prompts.judge(item["feedback"], item["domain"], item["prompt"], first, second),
            step="judge_swapped" if swapped else "judge",
            max_tokens=self.options.judge_max_tokens, temperature=0.0, seed=self.options.seed,
            json_schema=JUDGE,
        )
        return Ask("judge", request, item["prompt_id"])

    def row(self, item: dict[str, Any], answer: str, baseline: str,
            scores: list[int | None]) -> dict[str, Any]:
        score = sum(s for s in scores if s is not None) / len(scores)
        return {
            "id": stable_id("judged", item["prompt_id"], self.options.in_context),
            "prompt_id": item["prompt_id"],
            "feedback_id": item["feedback_id"],
            "kind": item["kind"],
            "prompt": item["prompt"],
            "answer": answer,
            "baseline": baseline,
            "score": score,
            "order_scores": scores,
            "value": logic.mapped(score),
            "in_context": self.options.in_context,
        }


def _score(ask: Ask, data: Any) -> int:
    return check_in_range(data.get("score"), logic.JUDGE_SCORES, "judge score")


def _item(row: dict[str, Any]) -> dict[str, Any]:
    """What the evaluation needs of a dataset row; the stored baseline is the student's answer
    (``rejected`` in scope, ``chosen`` elsewhere)."""
    kind = logic.check_kind(row["kind"], f"row {row['prompt_id']}")
    stored = row["rejected"] if kind == "in_scope" else row["chosen"]
    return {
        "prompt_id": row["prompt_id"],
        "feedback_id": row["feedback_id"],
        "feedback": row["feedback"],
        "domain": row["domain"],
        "kind": kind,
        "prompt": _last_text(row["prompt"]),
        "stored_baseline": _last_text(stored),
    }


def _last_text(value: Any) -> str:
    """A message list's last content, or the text itself (plain-format datasets)."""
    if isinstance(value, list):
        return str(value[-1]["content"]) if value else ""
    return "" if value is None else str(value)
