"""ReverseGen orchestration on scripted models: oracles, dedup, pairs, rounds, resume, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import reversegen_scripted as scripted
from click.testing import CliRunner

from datagen.cli import cli
from datagen.errors import InvalidInput, InvalidOptions, UsageError
from datagen.llm import ChatRequest
from datagen_plugins.reversegen.generator import FailureQueries
from datagen_plugins.reversegen.proposers import MARKER

SMALL = {"prompts_per_round": 2, "samples_per_prompt": 4}


@pytest.fixture
def folder(tmp_path: Path) -> str:
    base = tmp_path / "proposer"
    base.mkdir()
    (base / "config.json").write_text("{}")
    return str(base)


def test_one_round_with_the_entropy_oracle(datagen_home: Path):
    _, sink = scripted.run({"rounds": 1, **SMALL})
    candidates, kept, labels = (sink.steps[s] for s in ("candidates", "kept", "labels"))
    assert len(candidates) == 8 and len(kept) == 8  # every candidate has a verdict row
    dropped = [k for k in kept if not k["kept"]]
    assert len(dropped) == 2 and all(k["reason"].startswith("near-duplicate of ") for k in dropped)
    assert all(k["duplicate_of"] in {c["id"] for c in candidates} for k in dropped)
    assert {lab["failed"] for lab in labels if "hard" in lab["instruction"]} == {True}
    assert {lab["failed"] for lab in labels if "easy" in lab["instruction"]} == {False}
    hard = next(lab for lab in labels if lab["failed"])
    assert hard["entropy"] == pytest.approx(2.302585, rel=1e-5)
    assert hard["samples"] == [str(i) for i in range(1, 11)]
    assert hard["answer"] == "The answer is 42."  # the greedy answer
    (round_row,) = sink.steps["rounds"]
    assert (round_row["sampled"], round_row["kept"], round_row["labeled"]) == (8, 6, 6)
    assert round_row["failures"] == 4 and round_row["failure_rate"] == pytest.approx(4 / 6)
    assert round_row["pairs"] == 2 and round_row["trained_proposer"] is None
    assert 0 < round_row["self_bleu"] <= 1 and 0 < round_row["distinct_2"] <= 1
    assert sorted(r["id"] for r in sink.rows) == sorted(lab["id"] for lab in labels
                                                         if lab["failed"])
    assert all(r["verdict"] == "fail" and "entropy" in r["evidence"] for r in sink.rows)


def test_the_proposer_samples_and_the_target_answers_as_the_paper_says(datagen_home: Path):
    generator, _ = scripted.run({"rounds": 1, **SMALL})
    explore = generator.models["proposer"].requests("explore")
    assert len(explore) == 8
    assert {(r.temperature, r.top_p) for r in explore} == {(1.0, 0.9)}
    assert sorted(r.sample_index for r in explore) == [0, 0, 1, 1, 2, 2, 3, 3]
    target = generator.models["target"].requests("target")
    greedy = [r for r in target if r.sample_index == 0]
    assert len(greedy) == 6 and {r.temperature for r in greedy} == {0.0}
    assert len(target) == 6 + 6 * 10  # 10 sampled answers per kept instruction


def test_pairs_share_a_prompt_and_oppose_failure_and_pass(datagen_home: Path):
    _, sink = scripted.run({"rounds": 1, **SMALL})
    labels = {lab["id"]: lab for lab in sink.steps["labels"]}
    for pair in sink.steps["pairs"]:
        chosen, rejected = labels[pair["chosen_id"]], labels[pair["rejected_id"]]
        assert chosen["failed"] and not rejected["failed"]
        assert chosen["prompt"] == rejected["prompt"] == pair["prompt"]
        assert pair["prompt"].count("\n") == 5 and "Write instruction number 4" in pair["prompt"]


def test_judge_oracle_and_an_unusable_judgment_becomes_a_failure_row(datagen_home: Path,
                                                                    monkeypatch):
    original = scripted.answer

    def judge(request: ChatRequest):
        text = request.messages[-1].content
        if request.step == "oracle" and "number 2" in text:
            return "{not json"
        return original(request)

    monkeypatch.setattr(scripted, "answer", judge)
    _, sink = scripted.run({"rounds": 1, "oracle_kind": "judge", **SMALL})
    labels = sink.steps["labels"]
    assert all(lab["judge_reason"] == "scripted" and lab["entropy"] is None for lab in labels)
    assert {lab["failed"] for lab in labels} == {True, False}
    assert not any("number 2" in lab["instruction"] for lab in labels)
    failures = [f for f in sink.failures if f.step == "oracle"]
    assert len(failures) == 2 and failures[0].raw_output == "{not json"


@pytest.mark.parametrize("extra", [{}, {"checker": "reversegen_scripted:checker"}])
def test_reference_oracle_with_a_solver_or_a_checker(datagen_home: Path, extra):
    _, sink = scripted.run({"rounds": 1, "oracle_kind": "reference", **SMALL, **extra})
    for lab in sink.steps["labels"]:
        assert lab["reference"] in ({"Answer: 42", "Answer: 7"} if not extra else {"42", "7"})
        assert lab["failed"] == ("hard" in lab["instruction"])
        assert ("differs from" in lab["evidence"]) == lab["failed"]


def test_rounds_train_the_proposer_and_serve_the_next_round_from_its_folder(
        datagen_home: Path, folder: str):
    home = datagen_home / "another-home"  # the build's home, not the process default
    generator, sink = scripted.run({"rounds": 3, **SMALL}, proposer_folder=folder, home=home)
    rounds = sorted(sink.steps["rounds"], key=lambda r: r["round"])
    first, second, third = rounds
    assert first["proposer"] == f"vllm:{folder}" and first["proposer_folder"] == folder
    assert second["proposer"] == f"vllm:{first['trained_proposer']}"
    assert third["proposer"] == f"vllm:{second['trained_proposer']}"
    assert third["trained_proposer"] is None  # the last round's proposer would serve nobody
    assert generator.opened == [second["proposer"], third["proposer"]]
    assert [parent for _, parent in generator.trained] == [folder, first["trained_proposer"]]
    assert [r["round"] for r in generator.recorded] == [1, 2]
    assert first["train_loss"] == 1.5 and not first["reused"]
    for row in rounds[:2]:
        trained = Path(row["trained_proposer"])
        assert trained.parent == home / "reversegen" / "proposers"
        assert (trained / MARKER).exists()
    assert {r["round"] for r in sink.rows} == {3}
    assert {c["proposer"] for c in sink.steps["candidates"] if c["round"] == 2} == {
        second["proposer"]}


def test_all_rounds_outputs_every_rounds_failures(datagen_home: Path, folder: str):
    _, sink = scripted.run({"rounds": 2, "all_rounds": True, **SMALL}, proposer_folder=folder)
    assert {r["round"] for r in sink.rows} == {1, 2}


def test_resume_after_sigkill_between_rounds_trains_nothing_twice(datagen_home: Path,
                                                                  folder: str, tmp_path: Path):
    log = tmp_path / "trained.jsonl"
    env = {**os.environ, "DATAGEN_HOME": str(datagen_home), "REVERSEGEN_TRAIN_LOG": str(log),
           "PYTHONPATH": str(Path(__file__).parent)}
    args = [sys.executable, str(Path(scripted.__file__)), json.dumps({"rounds": 3, **SMALL}),
            folder]
    killed = subprocess.run(args, env={**env, "REVERSEGEN_KILL_ON_OPEN": "1"},
                            capture_output=True, text=True)
    assert killed.returncode == -9  # killed as round 2 opened its (trained) proposer
    assert len(log.read_text().splitlines()) == 1
    resumed = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    trainings = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(trainings) == 2  # round 1 once (before the kill), round 2 once (after)
    rounds = sorted(json.loads(resumed.stdout)["rounds"], key=lambda r: r["round"])
    assert rounds[0]["reused"] and rounds[0]["trained_proposer"] == trainings[0]["output"]
    assert not rounds[1]["reused"] and trainings[1]["parent"] == trainings[0]["output"]


def test_training_needs_a_proposer_folder(datagen_home: Path):
    with pytest.raises(UsageError, match="has no model folder to train") as caught:
        scripted.run({"rounds": 2, **SMALL})
    assert "\n" not in str(caught.value)


def test_empty_seed_pool_is_a_one_line_error(datagen_home: Path):
    with pytest.raises(InvalidInput, match="the seed pool is empty") as caught:
        scripted.run({"rounds": 1}, frame=pl.DataFrame({"instruction": ["", "  ", None]}))
    assert "\n" not in str(caught.value)


def test_rounds_below_one_is_a_one_line_error():
    with pytest.raises(InvalidOptions, match="option 'rounds' for generator 'reversegen'"):
        FailureQueries.parse_options({"rounds": 0})
    result = CliRunner().invoke(cli, ["build", "failure-queries", "-o", "rounds=0"])
    assert result.exit_code != 0
    assert result.output.strip().count("\n") == 0 and "rounds" in result.output


@pytest.mark.parametrize("kind,role", [("judge", "oracle"), ("reference", "solver")])
def test_an_oracle_kind_without_its_role_is_a_one_line_error(datagen_home: Path, kind, role):
    result = CliRunner().invoke(cli, [
        "build", "failure-queries", "-m", "proposer=embedded", "-m", "target=embedded",
        "-o", f"oracle_kind={kind}",
    ])
    assert result.exit_code != 0
    assert result.output.strip().count("\n") == 0
    assert f"role {role!r} has no model" in result.output


def test_a_checker_replaces_the_solver_role():
    options = FailureQueries.parse_options({"oracle_kind": "reference",
                                            "checker": "reversegen_scripted:checker"})
    assert [r.name for r in FailureQueries(options).model_roles()] == ["proposer", "target"]


def test_warmup_sft_trains_the_round_one_proposer_once(datagen_home: Path, folder: str):
    options = {"rounds": 2, "warmup": True, "warmup_examples": 5, **SMALL}
    generator, sink = scripted.run(options, proposer_folder=folder)
    examples = sink.steps["warmup"]
    assert len(examples) == 5
    for example in examples:
        shown = [line[3:] for line in example["prompt"].splitlines()[2:5]]
        assert example["completion"] not in shown and len(set(shown)) == 3
    warmed = examples[0]["trained_proposer"]
    first, second = sorted(sink.steps["rounds"], key=lambda r: r["round"])
    assert first["proposer"] == f"vllm:{warmed}"
    assert generator.methods == ["sft", "dpo"]
    assert [parent for _, parent in generator.trained] == [folder, warmed]
    assert second["proposer"] == f"vllm:{first['trained_proposer']}"
    again, _ = scripted.run(options, proposer_folder=folder)
    assert again.methods == []  # both folders are finished: reused, not retrained


def test_warmup_needs_more_seeds_than_shots(datagen_home: Path, folder: str):
    frame = pl.DataFrame({"instruction": ["one seed", "two seeds", "three seeds"]})
    with pytest.raises(InvalidInput, match="the warm-up needs at least 4 seed instructions"):
        scripted.run({"rounds": 1, "warmup": True}, frame=frame, proposer_folder=folder)


def test_a_trained_proposer_is_a_models_row_with_its_lineage(datagen_home: Path, folder: str):
    from datagen.catalog import Catalog
    from datagen_plugins.reversegen.proposers import record_model

    record_model("dpo", Path("/models/r1"), folder, 1, {"train_loss": 0.6},
                 {"beta": 0.1}, {"dataset": "failure-queries", "generator": "reversegen"})
    with Catalog.open(datagen_home) as cat:
        (row,) = cat.records("models")
    assert (row["path"], row["base_model"], row["method"]) == ("/models/r1", folder, "dpo")
    assert row["options"] == {"beta": 0.1, "round": 1, "parent": folder,
                              "dataset": "failure-queries", "generator": "reversegen"}
    assert row["metrics"] == {"train_loss": 0.6} and row["dataset"] == "failure-queries"


def test_a_folder_left_by_a_run_killed_mid_training_is_trained_again(datagen_home: Path,
                                                                      folder: str):
    options = {"rounds": 2, **SMALL}
    first, sink = scripted.run(options, proposer_folder=folder)
    trained = Path(sink.steps["rounds"][0]["trained_proposer"])
    (trained / MARKER).unlink()
    (trained / "half-written.bin").write_text("x")
    again, sink = scripted.run(options, proposer_folder=folder)
    assert len(again.trained) == 1 and not (trained / "half-written.bin").exists()
    assert (trained / MARKER).exists() and sink.steps["rounds"][0]["reused"] is False
