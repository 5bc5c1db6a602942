"""simulated-dialogues over a scripted system and user: the turn order, feedback rounds,
the leak and role checks, and bad input. The real model runs in test_simulated_embedded.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simulated_helpers import run_all_stages

from datagen.errors import InvalidInput
from datagen.llm import ChatRequest
from datagen.testing import ScriptedModel
from datagen_plugins.simulated.dialogues import SimulatedDialogues

NEEDS = Path(__file__).parents[1] / "plugins/simulated/catalog/data/cast2022-needs.jsonl"
NEED = {"id": "n1", "topic": "7", "need": "The effects of climate change on coral reefs",
        "utterance": "What is happening to coral reefs?"}


def generator(**options) -> SimulatedDialogues:
    return SimulatedDialogues(SimulatedDialogues.parse_options(options))


def system_model() -> ScriptedModel:
    def script(request: ChatRequest) -> str:
        if request.step == "clarifying_question":
            return "Do you mean bleaching or something else?"
        return f"Answer number {request.sample_index}."
    return ScriptedModel(script, spec="sys")


def user_model(verdicts: list[str], clarifying_reply: str = "Mostly bleaching, I think.",
               feedback_reply: str = "That is too general.") -> ScriptedModel:
    """Feedback verdicts in order, per dialogue (counted from the answers in the prompt)."""
    def script(request: ChatRequest) -> dict:
        if request.step == "clarifying_answer":
            return {"reply": clarifying_reply}
        rounds = request.messages[-1].content.count("Assistant: Answer number")
        verdict = verdicts[min(rounds, len(verdicts)) - 1]
        return {"verdict": verdict,
                "reply": "Thanks!" if verdict == "satisfied" else feedback_reply}
    return ScriptedModel(script, spec="usr")


def run(rows, user, system=None, **options):
    models = {"system": system or system_model(), "user": user}
    return run_all_stages(generator(**options), rows, models)


def test_three_unsatisfied_rounds_make_the_full_transcript():
    out = run([NEED], user_model(["too_vague", "not_what_i_asked", "too_vague"]),
              question_source="generated")
    [row] = out.rows
    kinds = [(t["participant"], t["type"]) for t in row["turns"]]
    assert kinds == [("user", "question"), ("system", "clarifying_question"),
                     ("user", "clarifying_answer")] + [("system", "answer"),
                                                       ("user", "feedback")] * 3
    assert [t["verdict"] for t in row["turns"] if t["type"] == "feedback"] == [
        "too_vague", "not_what_i_asked", "too_vague"]
    assert row["feedback_rounds"] == 3 and not row["satisfied"]
    assert row["ended"] == "max_feedback_rounds" and row["clarifying_questions"] == 1
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"] * 4 + ["user"]
    assert row["messages"][0]["content"] == NEED["utterance"]
    turns = out.steps["dialogue_turns"]
    assert [t["turn_index"] for t in turns] == list(range(9))
    assert {t["model"] for t in turns} == {"", "sys", "usr"}


def test_the_dialogue_stops_when_the_user_is_satisfied_and_rounds_are_an_option():
    out = run([NEED], user_model(["too_vague", "satisfied"]))
    [row] = out.rows
    assert row["satisfied"] and row["ended"] == "satisfied" and row["feedback_rounds"] == 2
    assert row["turns"][-1]["utterance"] == "Thanks!"
    out = run([NEED], user_model(["too_vague"]), max_feedback_rounds=1, clarifying_questions=0)
    assert [t["type"] for t in out.rows[0]["turns"]] == ["question", "answer", "feedback"]


def test_the_user_sees_its_need_and_the_system_never_does():
    system, user = system_model(), user_model(["satisfied"])
    run([NEED], user, system, question_source="generated")
    assert all(NEED["need"] in r.messages[-1].content for r in user.requests())
    assert all(NEED["need"] not in m.content for r in system.requests() for m in r.messages)


def test_pool_questions_come_from_the_bundled_cast_pool():
    out = run([NEED], user_model(["satisfied"]))
    question = out.rows[0]["turns"][1]
    assert question["type"] == "clarifying_question" and question["participant"] == "system"
    assert "coral" in question["utterance"].lower() or "reef" in question["utterance"].lower()


def test_a_user_repeating_its_need_verbatim_is_a_failure_row():
    leak = "I want the effects of climate change on coral reefs."
    out = run([NEED, {**NEED, "id": "n2"}], user_model(["satisfied"], clarifying_reply=leak))
    assert out.rows == []
    assert [f.input_id for f in out.failures] == ["n1", "n2"]
    failure = out.failures[0]
    assert "verbatim" in failure.reason and leak in failure.raw_output
    assert failure.step == "clarifying_answer"
    assert [t["type"] for t in failure.detail["turns"]] == ["question", "clarifying_question"]


def test_a_user_speaking_as_the_assistant_is_a_failure_row():
    out = run([NEED], user_model(["too_vague"], feedback_reply="How can I help you further?"))
    assert out.rows == []
    assert "spoke as the assistant" in out.failures[0].reason
    assert out.failures[0].step == "feedback"


def test_a_need_without_text_is_a_failure_row_and_others_go_on():
    rows = [NEED, {**NEED, "id": "n2", "need": " "}, {**NEED, "id": "n3", "utterance": None}]
    out = run(rows, user_model(["satisfied"]))
    assert [r["input_id"] for r in out.rows] == ["n1"]
    assert sorted(f.reason for f in out.failures) == [
        "need 'n2': need is empty", "need 'n3': utterance is empty"]


def test_input_without_a_need_column_is_one_line():
    with pytest.raises(InvalidInput) as caught:
        run([{"id": "x", "text": "hello"}], user_model(["satisfied"]))
    assert "\n" not in str(caught.value) and "'need'" in str(caught.value)


def test_failed_system_calls_and_invalid_user_answers_are_failure_rows():
    broken = ScriptedModel(lambda request: None, spec="down")
    out = run([NEED], user_model(["satisfied"]), system=broken, question_source="generated")
    assert out.rows == [] and out.failures[0].step == "clarifying_question"
    garbled = ScriptedModel(lambda request: "I am fine thanks", spec="usr")
    out = run([NEED], garbled)
    assert out.rows == [] and "not valid JSON" in out.failures[0].reason
    assert out.failures[0].raw_output == "I am fine thanks"


def test_the_bundled_needs_read_whole():
    rows = [json.loads(line) for line in NEEDS.read_text().splitlines()]
    assert len(rows) == 177
    out = run(rows[:20], user_model(["satisfied"]), clarify_rate=0.5)
    assert len(out.rows) == 20
    assert {r["clarifying_questions"] for r in out.rows} == {0, 1}


@pytest.mark.parametrize(("recipe", "row", "named"), [
    ("simulated-prefs", {"question": "q", "answer": "a"}, "output_1"),
    ("simulated-dialogues", {"id": "x", "text": "hello"}, "'need'"),
])
def test_the_cli_reports_bad_input_in_one_line(tmp_path: Path, recipe: str, row: dict,
                                               named: str):
    import subprocess
    import sys

    source = tmp_path / "bad.jsonl"
    source.write_text(json.dumps(row) + "\n")
    result = subprocess.run([sys.executable, "-m", "datagen", "build", recipe, "--input",
                             str(source), "-q"], capture_output=True, text=True)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0]
