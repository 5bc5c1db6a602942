"""ICAI orchestration with a scripted annotator world (tests/icai_fixtures.py) over the
bundled orthogonal set, and bad inputs through the real CLI and catalog.

The scripted models only stand in for the proposer, voter, embedder and judge so that
the stages' control flow can be pinned down: which rules survive, how votes are mapped
back from the shown order, what becomes a failure row, and what the eval measures.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from icai_fixtures import KNOWN, NOISE, UNSURE, orthogonal_frame, prefix, world

from datagen.generator import Generator
from datagen.llm import ChatRequest
from datagen.testing import MemorySink, ScriptedModel, run_generator
from datagen_plugins.icai.evaluation import agreement_by_group
from datagen_plugins.icai.generator import Annotate, Constitution


def run(generator: Generator, frame: pl.DataFrame, model: ScriptedModel) -> MemorySink:
    return run_generator(generator, frame, model, overlap=2)


def constitution(options: dict[str, Any] | None = None,
                 frame: pl.DataFrame | None = None) -> tuple[MemorySink, ScriptedModel]:
    frame = orthogonal_frame() if frame is None else frame
    model = world(frame)
    return run(Constitution(Constitution.parse_options(options or {})), frame, model), model


def test_the_constitution_holds_the_known_rules_and_drops_the_noise():
    sink, model = constitution()
    assert sorted(r["rule"] for r in sink.rows) == sorted(prefix(t) for t in KNOWN)
    assert [r["rank"] for r in sink.rows] == [1, 2, 3]
    assert all((r["votes_for"], r["votes_against"], r["votes"]) == (10, 0, 30) for r in sink.rows)
    decisions = {d["rule"]: d for d in sink.steps["filter_decisions"]}
    for tail in NOISE:
        assert decisions[prefix(tail)]["reason"].startswith("for (")
        assert not decisions[prefix(tail)]["kept"]
    assert decisions[prefix(UNSURE)]["reason"] == (
        "invalid votes (30) not fewer than valid ones (0)")
    # k from the paper's ratio (40 for 30 pairs), capped by the distinct rules proposed
    assert len(sink.steps["candidates"]) == len(KNOWN) + len(NOISE) + 1
    assert len(sink.steps["proposals"]) == 60 == len(sink.steps["clusters"])
    assert len(model.requests("vote")) == 30  # 7 rules fit in one call per pair


def test_votes_are_mapped_back_from_the_shown_order_and_invalid_ones_kept_raw():
    sink, _ = constitution()
    pairs = {p["id"]: p for p in sink.steps["pairs"]}
    orders = {p["shown_order"] for p in pairs.values()}
    assert orders == {"ab", "ba"}
    for vote in sink.steps["votes"]:
        if vote["answer"] in ("A", "B"):
            shown_first = vote["answer"] == "A"
            assert (vote["pick"] == "a") == (shown_first == (vote["shown_order"] == "ab"))
            expected = "for" if vote["pick"] == pairs[vote["pair_id"]]["preferred"] else "against"
            assert vote["verdict"] == expected
    invalid = [v for v in sink.steps["votes"] if v["verdict"] == "invalid"]
    assert len(invalid) == 30 and {v["raw"] for v in invalid} == {"maybe"}
    assert all(v["pick"] == "invalid" and v["answer"] is None for v in invalid)


def test_the_same_seed_gives_the_same_constitution_and_tables():
    first, _ = constitution({"seed": 5})
    second, _ = constitution({"seed": 5})
    assert first.rows == second.rows
    for step in ("clusters", "candidates", "votes", "filter_decisions"):
        assert first.steps[step] == second.steps[step]


def test_ties_are_counted_and_skipped_and_a_bad_proposal_is_a_failure_row():
    frame = orthogonal_frame()
    tie = frame.head(1).with_columns(pl.lit("tie").alias("preferred_text"),
                                     pl.lit("a tie").alias("text_b"))
    model = world(frame)
    script = model.script

    def breaks_one(request: ChatRequest) -> Any:
        if request.step == "propose" and "Sarah came home to find Buddy" in str(request.messages):
            return "{not json"
        return script(request)

    model.script = breaks_one
    sink = run(Constitution(Constitution.parse_options({})), pl.concat([frame, tie]), model)
    skipped = [p for p in sink.steps["pairs"] if not p["used"]]
    assert [p["skip_reason"] for p in skipped] == ["tie"]
    assert skipped[0]["id"] not in {v["pair_id"] for v in sink.steps["votes"]}
    (failure,) = sink.failures
    assert failure.step == "propose" and failure.raw_output == "{not json"
    assert len(sink.steps["proposals"]) == 58


def test_an_unparseable_vote_makes_every_rule_of_that_call_invalid_with_the_raw_text():
    frame = orthogonal_frame(6)
    model = world(frame)
    script = model.script
    model.script = lambda r: "oops" if r.step == "vote" else script(r)
    sink = run(Constitution(Constitution.parse_options({"clusters": 3})), frame, model)
    assert {v["verdict"] for v in sink.steps["votes"]} == {"invalid"}
    assert {v["raw"] for v in sink.steps["votes"]} == {"oops"}
    assert len([f for f in sink.failures if f.step == "vote"]) == 6
    assert sink.rows == []
    assert {d["kept"] for d in sink.steps["filter_decisions"]} == {False}


def test_rules_per_vote_splits_the_candidates_over_several_calls():
    sink, model = constitution({"rules_per_vote": 3})
    assert len(model.requests("vote")) == 30 * 3  # 7 candidates in calls of 3, 3, 1
    assert sorted(r["rule"] for r in sink.rows) == sorted(prefix(t) for t in KNOWN)


def test_the_shortlist_is_reclustered_into_at_most_n_rules():
    sink, _ = constitution({"max_rules": 2})
    assert len(sink.rows) == 2
    decisions = [d for d in sink.steps["filter_decisions"] if d["rule"] in
                 {prefix(t) for t in KNOWN}]
    dropped = [d for d in decisions if not d["kept"]]
    assert len(dropped) == 1 and dropped[0]["reason"].startswith("same theme as")


def test_a_judge_following_the_constitution_agrees_more_than_one_with_no_rules():
    frame = orthogonal_frame()
    # every third pair is held out (the set runs 10 pet, 10 t-shirt, 10 ice cream pairs)
    sink, _ = constitution(frame=frame.filter(pl.col("index") % 3 != 0))
    rules = [r["rule"] for r in sink.rows]
    assert len(rules) == 3
    source = {p["id"] for p in sink.steps["pairs"]}
    scores = {}
    for label, given in (("rules", rules), ("none", [])):
        annotate = Annotate(Annotate.parse_options({"rules": given, "labels_required": True}))
        judged = run(annotate, frame, world(frame))
        scores[label] = agreement_by_group(judged.steps["judgments"], source)
    assert (scores["rules"]["pairs_train"], scores["rules"]["pairs_held_out"]) == (20, 10)
    assert scores["rules"]["agreement_train"] == scores["rules"]["agreement_held_out"] == 1.0
    assert 0.2 < scores["none"]["agreement_all"] < 0.8  # first shown text, seeded order
    assert scores["rules"]["failed_judgments"] == scores["none"]["failed_judgments"] == 0


def test_the_annotator_labels_unlabeled_pairs_in_trl_format():
    labeled = orthogonal_frame(6)
    preferred = {row[row["preferred_text"]] for row in labeled.to_dicts()}
    rules = [prefix(t) for t in KNOWN]
    annotate = Annotate(Annotate.parse_options({"rules": rules}))
    sink = run(annotate, labeled.drop("preferred_text"), world(labeled))
    assert len(sink.rows) == 6
    for row in sink.rows:
        assert row["label"] is None and row["agrees"] is None and row["rules"] == rules
        assert row["chosen"] in preferred and row["rejected"] not in preferred


# -- bad input: one line, no version ---------------------------------------------------------


def datagen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "datagen", *args], capture_output=True,
                          text=True, timeout=300)


def no_versions(home: Path) -> bool:
    from datagen.catalog import Catalog

    with Catalog.open(home) as cat:
        return cat.datasets() == []


@pytest.mark.embedded
@pytest.mark.parametrize(("rows", "extra", "message"), [
    ([{"text_a": "x", "text_b": "y"}] * 3, [],
     "input: no preferred column: the input has text_a, text_b; name the column"),
    ([{"text_a": "x", "text_b": "y", "preferred_text": "text_c"}], [],
     "input: row 1: preferred_text = 'text_c' names neither text"),
    ([{"text_a": f"x{i}", "text_b": "y", "preferred_text": "text_a"} for i in range(3)],
     ["-o", "clusters=10"],
     "input: 3 usable pairs (0 ties or unlabeled) give at most 6 proposed rules, fewer than"
     " the 10 clusters asked for"),
], ids=["no-preferred-column", "label-names-neither", "fewer-pairs-than-clusters"])
def test_bad_pairs_stop_the_build_with_one_line_and_no_version(tmp_path, datagen_home, rows,
                                                               extra, message):
    path = tmp_path / "pairs.jsonl"
    pl.DataFrame(rows).write_ndjson(path)
    result = datagen("build", "constitution", "--input", str(path), "-q", *extra)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert no_versions(datagen_home)
