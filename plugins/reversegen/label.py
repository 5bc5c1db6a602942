"""Round stage 3: the target answers each kept instruction greedily; the oracle labels it.

Three oracles: ``entropy`` (the target's answers over N samples disagree: entropy of the
final answers >= the threshold), ``judge`` (the ``oracle`` role says the answer fits a
failure description) and ``reference`` (the final answer differs from the ``solver`` role's
or from a checker function's). An unusable oracle answer is a failure row, not a label.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import polars as pl

from datagen.errors import InvalidOptions
from datagen.generator import BatchOutput, GeneratorContext
from datagen.llm import ChatRequest
from datagen.shapes import strict_object, text
from datagen.steps import Ask, CheckFailed, StepKit

from .explore import this_round
from .logic import answer_entropy, answers_differ, final_answer
from .prompts import judge_prompt, solver_prompt

if TYPE_CHECKING:
    from .generator import FailureQueries

Verdict = dict[str, Any]  # failed, evidence, entropy, samples, reference, judge_reason

JUDGE_SCHEMA = strict_object({"fails": {"type": "boolean"}, "reason": text(300)})


def label(gen: FailureQueries, round_no: int, frame: pl.DataFrame,
          ctx: GeneratorContext) -> BatchOutput:
    """Answer and label every kept instruction of the round."""
    kept = this_round(frame, round_no)
    rows = kept.filter(pl.col("kept")).to_dicts() if not kept.is_empty() else []
    kit = StepKit(ctx)
    if not rows:
        return kit.out
    answers = kit.complete([_target_ask(gen, r) for r in rows])
    oracle = ORACLES[gen.options.oracle_kind]
    verdicts = oracle(gen, kit, rows, [a.text for a in answers])
    labels = []
    for row, answer, verdict in zip(rows, answers, verdicts, strict=True):
        if not answer.ok:
            kit.fail("target", row["id"], f"the target call failed: {answer.error}")
        elif verdict is not None:
            labels.append(_label_row(gen, kit, row, answer.text, verdict))
    kit.record("labels", labels)
    return kit.out


def _target_ask(gen: FailureQueries, row: dict[str, Any], index: int = 0) -> Ask:
    o = gen.options
    sampled = index > 0
    request = ChatRequest.chat(
        row["instruction"], max_tokens=o.answer_tokens, step="target",
        temperature=o.entropy_temperature if sampled else 0.0, seed=o.seed, sample_index=index,
    )
    return Ask("target", request, row["id"])


def _label_row(gen: FailureQueries, kit: StepKit, row: dict[str, Any], answer: str,
               verdict: Verdict) -> dict[str, Any]:
    return {
        "id": row["id"], "round": row["round"], "prompt_id": row["prompt_id"],
        "prompt": row["prompt"], "instruction": row["instruction"], "answer": answer,
        "oracle": gen.options.oracle_kind, "target": kit.spec("target"),
        "entropy": None, "samples": [], "reference": None, "judge_reason": None, **verdict,
    }


def entropy_oracle(gen: FailureQueries, kit: StepKit, rows: list[dict[str, Any]],
                   answers: list[str]) -> list[Verdict | None]:
    """N sampled answers per instruction; their final answers' entropy decides."""
    n = gen.options.entropy_samples
    asks = [_target_ask(gen, r, k) for r in rows for k in range(1, n + 1)]
    samples = [c.text for c in kit.complete(asks)]
    verdicts: list[Verdict | None] = []
    for i in range(len(rows)):
        texts = samples[i * n : (i + 1) * n]
        value = answer_entropy(texts)
        verdicts.append({
            "failed": value >= gen.options.entropy_threshold, "entropy": value,
            "samples": [final_answer(t) for t in texts],
            "evidence": f"answer entropy {value:.3f} over {n} samples"
                        f" (threshold {gen.options.entropy_threshold})",
        })
    return verdicts


def judge_oracle(gen: FailureQueries, kit: StepKit, rows: list[dict[str, Any]],
                 answers: list[str]) -> list[Verdict | None]:
    """The oracle role reads instruction and answer against the rubric."""
    asks = [
        Ask("oracle", ChatRequest.chat(judge_prompt(r["instruction"], a, gen.options.rubric),
                                       max_tokens=160, json_schema=JUDGE_SCHEMA, step="oracle"),
            r["id"])
        for r, a in zip(rows, answers, strict=True)
    ]
    verdicts: list[Verdict | None] = []
    for answer in kit.structured(asks, check=_check_judgment):
        if answer is None:
            verdicts.append(None)
            continue
        fails, reason = answer.data["fails"], answer.data["reason"]
        verdicts.append({"failed": fails, "judge_reason": reason,
                         "evidence": f"judge: {'fails' if fails else 'passes'}: {reason}"})
    return verdicts


def _check_judgment(ask: Ask, data: Any) -> Any:
    if not isinstance(data.get("fails"), bool) or not isinstance(data.get("reason"), str):
        raise CheckFailed("the judgment needs a boolean 'fails' and a string 'reason'")
    return data


def reference_oracle(gen: FailureQueries, kit: StepKit, rows: list[dict[str, Any]],
                     answers: list[str]) -> list[Verdict | None]:
    """Compare final answers with a checker's or the solver role's reference answers."""
    references = _references(gen, kit, rows)
    verdicts: list[Verdict | None] = []
    for row, answer, reference in zip(rows, answers, references, strict=True):
        if reference is None:
            kit.fail("oracle", row["id"], "no reference answer for this instruction")
            verdicts.append(None)
            continue
        differs = answers_differ(answer, reference)
        verdicts.append({
            "failed": differs, "reference": reference,
            "evidence": f"final answer {final_answer(answer)!r}"
                        f" {'differs from' if differs else 'matches'}"
                        f" the reference {final_answer(reference)!r}",
        })
    return verdicts


def _references(gen: FailureQueries, kit: StepKit, rows: list[dict[str, Any]]) -> list[str | None]:
    if gen.options.checker:
        check = load_checker(gen.options.checker)
        return [_as_reference(check(r["instruction"])) for r in rows]
    asks = [Ask("solver", ChatRequest.chat(solver_prompt(r["instruction"]), step="solver",
                                          max_tokens=gen.options.answer_tokens), r["id"])
            for r in rows]
    return [c.text if c.ok else None for c in kit.complete(asks)]


def _as_reference(value: Any) -> str | None:
    return None if value is None else str(value)


def load_checker(path: str) -> Callable[[str], Any]:
    """The user's ``module:function`` that gives a reference answer (or None) per instruction."""
    module_name, _, attribute = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidOptions(f"option 'checker': cannot load {path!r}: {exc}") from None
    if not callable(function):
        raise InvalidOptions(f"option 'checker': {path!r} is not callable")
    return function


ORACLES: dict[str, Callable[..., list[Verdict | None]]] = {
    "entropy": entropy_oracle,
    "judge": judge_oracle,
    "reference": reference_oracle,
}

