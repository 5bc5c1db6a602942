"""Step 1: the feedbacks, with domain and effect derived by the author where missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datagen.generator import stable_id
from datagen.steps import Ask, CheckFailed, StepKit

from . import prompts
from .options import FeedbackPrefsOptions
from .requests import DESCRIBE, step_request


@dataclass
class Feedback:
    id: str
    content: str
    domain: str = ""
    effect: str = ""
    derived: bool = False

    def record(self) -> dict[str, Any]:
        return {"id": self.id, "input_id": self.id, "content": self.content,
                "domain": self.domain, "effect": self.effect, "derived": self.derived}


def input_rows(options: FeedbackPrefsOptions, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``feedback`` option replaces the input table with its one sentence."""
    return [{"content": options.feedback}] if options.feedback else rows


def read_feedbacks(kit: StepKit, rows: list[dict[str, Any]]) -> list[Feedback]:
    """Feedbacks with content; a row without one, or with a repeated id, is a failure row."""
    found: dict[str, Feedback] = {}
    for number, row in enumerate(rows, 1):
        content = _text(row.get("content"))
        given_id = _text(row.get("id"))
        where = f"input row {number}" + (f" (id {given_id})" if given_id else "")
        if not content:
            kit.fail("feedbacks", given_id or f"row-{number}", f"{where}: feedback has no content")
            continue
        feedback_id = given_id or stable_id("feedback", content)
        if feedback_id in found:
            kit.fail("feedbacks", feedback_id, f"{where}: feedback id repeats an earlier row")
            continue
        found[feedback_id] = Feedback(
            feedback_id, content, _text(row.get("domain")), _text(row.get("effect"))
        )
    return list(found.values())


def describe_missing(kit: StepKit, options: FeedbackPrefsOptions,
                     feedbacks: list[Feedback]) -> list[Feedback]:
    """Ask the author for domain and effect where either is missing; keep those that have both."""
    missing = [f for f in feedbacks if not (f.domain and f.effect)]
    asks = [Ask("author", step_request(options, "describe", prompts.describe(f.content),
                                       DESCRIBE), f.id) for f in missing]
    for feedback, answer in zip(missing, kit.structured(asks, _check_description), strict=True):
        if answer is None:
            continue  # its failure row is recorded; without domain and effect it is dropped
        feedback.domain = feedback.domain or answer.data["domain"]
        feedback.effect = feedback.effect or answer.data["effect"]
        feedback.derived = True
    ready = [f for f in feedbacks if f.domain and f.effect]
    kit.record("feedbacks", [f.record() for f in ready])
    return ready


def _check_description(ask: Ask, data: Any) -> Any:
    for key in ("domain", "effect"):
        if not _text(data.get(key)):
            raise CheckFailed(f"the answer has an empty {key}")
    return {key: _text(data[key]) for key in ("domain", "effect")}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
