"""End-to-end simulated annotators and users on the real embedded model (SmolLM2-135M).

The 135M model's judgements and replies are mostly poor; what these tests hold is the
contract: every input ends as a valid row or a failure row with the raw text, routing and
noise follow the seed, dialogue transcripts follow the state machine, no kept user reply
leaks the need or speaks as the assistant, and the agreement metrics match the labels.
Budgets are small so each build stays within a couple of minutes on a loaded 2-core machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.build import run_build
from datagen.catalog import Catalog
from datagen_plugins.simulated.evaluate import evaluate_annotators
from datagen_plugins.simulated.logic import (
    Dialogue,
    Turn,
    agreement,
    breaks_role,
    leaks_need,
    next_move,
    route,
)
from datagen_plugins.simulated.options import bundled_pool

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

SHORT_PAIRS = [
    {"id": "g1", "instruction": "What is the capital of France?", "output_1": "Paris.",
     "output_2": "Berlin is the capital of France.", "preference": 1},
    {"id": "g2", "instruction": "What is 2 + 2?", "output_1": "5", "output_2": "4",
     "preference": 2},
    {"id": "g3", "instruction": "Say hello politely.", "output_1": "Hello, nice to meet you!",
     "output_2": "Go away.", "preference": 1},
    {"id": "bad", "instruction": "Name a colour.", "output_1": "Blue.", "output_2": "",
     "preference": 1},
]


@pytest.fixture(autouse=True)
def needs_embedded():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the embedded extra) is missing")


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def failures_of(catalog: Catalog, build_id: str) -> list[dict]:
    return catalog.sql(
        f"SELECT step, input_id, reason, raw_output FROM failures WHERE build_id = '{build_id}'"
    ).to_pylist()


def test_simulated_prefs_routes_labels_and_keeps_bad_pairs(datagen_home: Path, tmp_path: Path):
    source = write_jsonl(tmp_path / "pairs.jsonl", SHORT_PAIRS)
    result = run_build("simulated-prefs", input=source, quiet=True, allow_empty=True,
                       options={"seed": 3})
    with Catalog.open(datagen_home) as catalog:
        rows = catalog.sql('SELECT * FROM "simulated-prefs"').to_pylist()
        failures = failures_of(catalog, result.build_id)
        judgements = catalog.sql('SELECT * FROM "simulated-prefs/judgements"').to_pylist()
    assert {r["input_id"] for r in rows} | {f["input_id"] for f in failures} == {
        "g1", "g2", "g3", "bad"}
    assert any(f["reason"] == "pair 'bad': output_2 is empty" for f in failures)
    assert all(f["raw_output"] for f in failures if f["step"] == "annotate")
    names = [a.name for a in bundled_pool()]
    for row in rows:
        assert row["annotator"] == names[route(row["input_id"], 3, 13)]
        assert row["raw_answer"] and row["annotator_model"] == "embedded"
        if not row["is_noisy"]:
            assert row["preference"] == row["annotator_preference"]
        winner = row["output_1"] if row["preference"] == 1 else row["output_2"]
        assert row["chosen"][0]["content"] == winner
    assert {j["input_id"] for j in judgements} == {r["input_id"] for r in rows}


def replayable(turns: list[dict], max_rounds: int) -> bool:
    """Whether the transcript is a path the dialogue state machine allows."""
    first = turns[0]
    dialogue = Dialogue("x", "need", first["utterance"], clarify_left=1)
    for turn in turns[1:]:
        if next_move(dialogue, max_rounds).value != turn["type"]:
            return False
        dialogue.add(Turn(turn["participant"], turn["utterance"], turn["type"], turn["verdict"]))
    return next_move(dialogue, max_rounds).value == "done"


def test_simulated_dialogues_follow_the_state_machine_and_never_leak(datagen_home: Path,
                                                                      tmp_path: Path):
    needs = [json.loads(line) for line in (
        Path(__file__).parents[1] / "plugins/simulated/catalog/data/cast2022-needs.jsonl"
    ).read_text().splitlines()[:2]]
    needs.append({"id": "empty", "topic": "0", "need": "", "utterance": "Hello?"})
    source = write_jsonl(tmp_path / "needs.jsonl", needs)
    options = {"max_feedback_rounds": 1, "max_tokens": {"answer": 48, "feedback": 48}}
    result = run_build("simulated-dialogues", input=source, quiet=True, allow_empty=True,
                       options=options)
    with Catalog.open(datagen_home) as catalog:
        rows = catalog.sql('SELECT * FROM "simulated-dialogues"').to_pylist()
        failures = failures_of(catalog, result.build_id)
    assert {r["input_id"] for r in rows} | {f["input_id"] for f in failures} == {
        needs[0]["id"], needs[1]["id"], "empty"}
    assert any(f["reason"] == "need 'empty': need is empty" for f in failures)
    assert all(f["raw_output"] for f in failures if f["step"] in ("clarifying_answer",
                                                                  "feedback"))
    for row in rows:
        assert replayable(row["turns"], 1)
        for turn in row["turns"]:
            if turn["participant"] == "user" and turn["type"] != "question":
                assert breaks_role(turn["utterance"]) is None
            if turn["type"] == "clarifying_answer":
                assert not leaks_need(row["need"], turn["utterance"], 0.8, 3)
        assert len(row["messages"]) == len(row["turns"])


def test_eval_annotators_records_agreement_that_matches_the_labels(datagen_home: Path,
                                                                   tmp_path: Path):
    gold = write_jsonl(tmp_path / "gold.jsonl", SHORT_PAIRS[:2])
    four = [a.model_dump() for a in bundled_pool()[:4]]
    report = evaluate_annotators(pairs=gold, models=[], options={"annotators": four},
                                 limit=None, home=datagen_home)
    with Catalog.open(datagen_home) as catalog:
        [record] = catalog.records("metrics", kind="annotators")
        rows = catalog.sql(f'SELECT * FROM "{report.dataset}"').to_pylist()
    assert record["metric_id"] == report.metric_id and record["dataset"] == "annotator-agreement"
    gold_labels = {"g1": 1, "g2": 2}
    for name, stats in record["detail"]["per_annotator"].items():
        labels = {r["input_id"]: r["annotator_preference"] for r in rows
                  if r["annotator"] == name}
        assert stats["labelled"] == len(labels)
        assert stats["agreement"] == agreement(labels, gold_labels)
    assert record["metrics"]["pairs"] == 2 and record["metrics"]["annotators"] == 4
    for key in ("inter_annotator_pairwise", "inter_annotator_held_out"):
        value = record["metrics"][key]
        assert value is None or 0.0 <= value <= 1.0
