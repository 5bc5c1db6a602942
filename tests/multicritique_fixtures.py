"""A scripted model for MultiCritique orchestration tests: it answers by the request's step.

It only exercises the generator's control flow (which requests go where, how answers are
checked and combined); the real embedded model is used by the end-to-end tests.
"""

from __future__ import annotations

import re
from typing import Any

from datagen.llm import ChatRequest
from datagen.testing import Script
from datagen.testing import ScriptedModel as BaseScriptedModel


def default_script(request: ChatRequest) -> Any:
    step = request.step
    if step == "task_description":
        return {"task_description": "Answer the question correctly."}
    if step == "criteria":
        return {
            "primary": [
                {
                    "name": "Correctness",
                    "fine_grained": [
                        {
                            "name": "Accuracy",
                            "description": "Facts are right.",
                            "importance": "important",
                        },
                        {
                            "name": "Arithmetic",
                            "description": "Sums are right.",
                            "importance": "medium",
                        },
                    ],
                },
                {
                    "name": "Clarity",
                    "fine_grained": [
                        {"name": "Wording", "description": "Plain words.", "importance": "normal"}
                    ],
                },
            ]
        }
    if step == "reference":
        return {"reference": "A correct answer."}
    if step == "critique":
        return critique_answer([unit(["S1"], "Accuracy", "Wrong fact.", "Severe")])
    if step == "meta_label":
        return {"label": "L0", "reason": "Right."}
    if step == "aggregate":
        return {"summaries": [{"criterion": "Correctness", "summary": "One error."}], "score": 4}
    if step == "revision":
        return {"revised_response": "A better answer."}
    if step == "score":
        return {"score": 7}
    raise AssertionError(f"unscripted step {step!r}")


def critique_answer(units: list[dict[str, Any]], score: int = 5) -> dict[str, Any]:
    """An agent's whole answer: its units, a summary per primary criterion and a score."""
    return {
        "units": units,
        "summaries": [
            {"criterion": "Correctness", "summary": f"{len(units)} flaw(s) found."},
            {"criterion": "Clarity", "summary": "Plain enough."},
        ],
        "score": score,
    }


def unit(tags: list[str], criterion: str, description: str, severity: str) -> dict[str, Any]:
    return {
        "tags": tags,
        "criterion": criterion,
        "description": description,
        "severity": severity,
        "suggestion": "Fix it.",
    }


def persona_of(request: ChatRequest) -> str:
    """The persona that closes a critique prompt ("" when the agent has none)."""
    from datagen_plugins.multicritique.critics import PERSONA_LEAD

    text = request.messages[-1].content
    return text.rsplit(PERSONA_LEAD, 1)[1] if PERSONA_LEAD in text else ""


def user_text(request: ChatRequest) -> str:
    return request.messages[-1].content


def unit_description(request: ChatRequest) -> str:
    """The description of the unit a meta_label request is about (named by its number)."""
    text = user_text(request)
    number = re.search(r"The unit to label: number (\d+)", text)
    if number is None:
        return ""
    listed = re.search(rf"^{number.group(1)}\. .*?flaw: (.*?); suggestion:", text, re.MULTILINE)
    return listed.group(1) if listed else ""


class ScriptedModel(BaseScriptedModel):
    """The kit's scripted model with MultiCritique's default script."""

    def __init__(self, script: Script = default_script, spec: str = "scripted"):
        super().__init__(script, spec)
