"""``simulated-dialogues``: a system and a simulated user holding a written need.

The system asks clarifying questions (from the bundled CAsT question pool, or its own) and
answers; the user answers the questions without giving its need away verbatim and gives
feedback on each answer, for up to ``max_feedback_rounds`` rounds or until satisfied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from datagen.errors import InvalidInput
from datagen.generator import BatchOutput, Failure, Generator, GeneratorContext, stable_id
from datagen.roles import Role
from datagen.steps import StepKit

from .conversation import converse
from .logic import Dialogue, QuestionPool, clarifications_for
from .options import DialoguesOptions

POOL_FILE = Path(__file__).parent / "catalog" / "data" / "cast2022-question-pool.jsonl"

CITATION = """@inproceedings{owoicho2023exploiting,
  title     = {Exploiting Simulated User Feedback for Conversational Search: Ranking,
               Rewriting, and Beyond},
  author    = {Owoicho, Paul and Sekuli{\\'c}, Ivan and Aliannejadi, Mohammad and
               Dalton, Jeffrey and Crestani, Fabio},
  booktitle = {Proceedings of SIGIR},
  year      = {2023}
}"""


class SimulatedDialogues(Generator):
    """Dialogues between a system role and a simulated user role, one row per need."""

    name: ClassVar[str] = "simulated-dialogues"
    description: ClassVar[str] = (
        "Dialogues with a simulated user who answers clarifying questions and gives feedback"
    )
    Options = DialoguesOptions
    output_schema: ClassVar[str] = "simulated-dialogue"
    step_schemas: ClassVar[dict[str, Any]] = {"dialogue_turns": "simulated-turn"}
    roles: ClassVar[tuple[Role, ...]] = (
        Role("system", "answers and asks clarifying questions"),
        Role("user", "plays the user who holds the information need"),
    )
    batch_size: ClassVar[int] = 16
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-generation",)

    options: DialoguesOptions

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        dialogues, failures = read_needs(batch.to_dicts(), self.options)
        kit = StepKit(ctx, BatchOutput(failures=failures))
        converse(kit, self.options, dialogues, self.question_pool())
        for dialogue in dialogues:
            if not dialogue.failed:
                self.finish(kit, dialogue)
        return kit.out

    def question_pool(self) -> QuestionPool | None:
        if self.options.question_source == "generated":
            return None
        return load_question_pool(Path(self.options.question_pool or POOL_FILE))

    def finish(self, kit: StepKit, dialogue: Dialogue) -> None:
        dialogue_id = stable_id("simulated-dialogues", dialogue.input_id, self.options.seed)
        specs = {"system": kit.spec("system"), "user": kit.spec("user")}
        kit.record("dialogue_turns", [
            {"id": f"{dialogue_id}:{i}", "input_id": dialogue.input_id,
             "dialogue_id": dialogue_id, "turn_index": i, "participant": t.participant,
             "type": t.type, "verdict": t.verdict, "utterance": t.utterance,
             "model": "" if t.type == "question" else specs[t.participant]}
            for i, t in enumerate(dialogue.turns)
        ])
        kit.out.rows.append(dialogue_row(dialogue_id, dialogue, specs))


def dialogue_row(dialogue_id: str, dialogue: Dialogue, specs: dict[str, str]) -> dict[str, Any]:
    role = {"user": "user", "system": "assistant"}
    return {
        "id": dialogue_id,
        "input_id": dialogue.input_id,
        "topic": dialogue.topic,
        "need": dialogue.need,
        "opening": dialogue.opening,
        "turns": [t.as_dict() for t in dialogue.turns],
        "messages": [{"role": role[t.participant], "content": t.utterance}
                     for t in dialogue.turns],
        "clarifying_questions": sum(t.type == "clarifying_question" for t in dialogue.turns),
        "feedback_rounds": dialogue.feedback_rounds,
        "satisfied": dialogue.satisfied,
        "ended": "satisfied" if dialogue.satisfied else "max_feedback_rounds",
        "system_model": specs["system"],
        "user_model": specs["user"],
    }


def read_needs(rows: list[dict[str, Any]],
               options: DialoguesOptions) -> tuple[list[Dialogue], list[Failure]]:
    """Dialogues for rows with a need and an opening utterance; the rest are failure rows."""
    columns = options.columns
    if rows:
        missing = [c for c in (columns.need, columns.utterance) if c not in rows[0]]
        if missing:
            raise InvalidInput(
                f"input has no column {missing[0]!r} (columns: {', '.join(sorted(rows[0]))});"
                " map yours with the option columns.need / columns.utterance"
            )
    dialogues, failures = [], []
    for row in rows:
        need, opening = _text(row.get(columns.need)), _text(row.get(columns.utterance))
        input_id = _text(row.get(columns.id)) or stable_id(need, opening)
        if not need or not opening:
            empty = columns.need if not need else columns.utterance
            failures.append(Failure("input", f"need {input_id!r}: {empty} is empty", input_id))
            continue
        clarify = clarifications_for(input_id, options.seed, options.clarify_rate,
                                     options.clarifying_questions)
        dialogues.append(Dialogue(input_id, need, opening, _text(row.get(columns.topic)),
                                  clarify_left=clarify))
    return dialogues, failures


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def load_question_pool(path: Path) -> QuestionPool:
    """Clarifying questions from a JSONL file with a ``question`` field."""
    if not path.exists():
        raise InvalidInput("question pool file not found", path=str(path))
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(str(json.loads(line)["question"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InvalidInput("expected a JSON object with a 'question' field",
                               path=str(path), line=number) from None
    try:
        return QuestionPool.of(questions)
    except ValueError as exc:
        raise InvalidInput(str(exc), path=str(path)) from None
