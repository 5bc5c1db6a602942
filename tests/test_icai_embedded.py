"""ICAI end to end on the real embedded model and a real catalog: the bundled orthogonal
set through `datagen build constitution` with small budgets, then `datagen eval
constitution` on it. The 135M model is near chance here, so this checks the pipeline's
contract and its tables, not the quality of the rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from icai_fixtures import orthogonal_frame

from datagen.build import run_build
from datagen.catalog import Catalog
from datagen.cli import cli

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

SMALL = {"rules_per_pair": 1, "clusters": 2, "max_rules": 1,
         "max_tokens": {"propose": 40, "vote": 40, "judge": 16}}
PAIRS = 2  # the fewest that give the 2 clusters asked for, at one rule per pair
STEPS = ("pairs", "proposals", "clusters", "candidates", "votes", "filter_decisions")


def tables(home: Path, ref: str) -> dict[str, list[dict]]:
    with Catalog.open(home) as cat:
        found = {step: cat.read_step(ref, step).to_pylist() for step in STEPS}
        found["rows"] = cat.read_arrow(ref).to_pylist()
        found["failures"] = cat.sql("SELECT step, reason, raw_output FROM failures").to_pylist()
        found["lineage"] = json.loads(cat.sql(
            "SELECT b.inputs FROM builds b JOIN versions v USING (build_id)"
            f" WHERE v.dataset = 'constitution' AND v.version = {ref.split('@')[1]}"
        ).to_pylist()[0]["inputs"])[0]
    return found


def check_contract(t: dict[str, list[dict]]) -> None:
    assert len(t["pairs"]) == PAIRS and all(p["used"] for p in t["pairs"])
    assert len(t["clusters"]) == len(t["proposals"])
    assert 1 <= len(t["candidates"]) <= 2
    assert len(t["votes"]) == PAIRS * len(t["candidates"])  # every pair against each candidate
    assert {v["verdict"] for v in t["votes"]} <= {"for", "against", "abstain", "invalid"}
    assert all(v["raw"] is not None for v in t["votes"] if v["verdict"] == "invalid")
    decided = {d["rule_id"]: d for d in t["filter_decisions"]}
    assert set(decided) == {c["id"] for c in t["candidates"]}
    assert {r["id"] for r in t["rows"]} == {r for r, d in decided.items() if d["kept"]}
    assert len(t["rows"]) <= 1
    for row in t["rows"]:
        assert row["rule"].startswith("Select the response that ")
        assert row["votes_for"] > row["votes_against"]
    for rule_id, decision in decided.items():
        counts = [v["verdict"] for v in t["votes"] if v["rule_id"] == rule_id]
        assert decision["votes_for"] == counts.count("for")
        assert decision["votes_invalid"] == counts.count("invalid")


def test_constitution_on_the_embedded_model_then_eval(datagen_home: Path, tmp_path: Path):
    pairs = tmp_path / "pairs.csv"
    orthogonal_frame(PAIRS).write_csv(pairs)
    built = run_build("constitution", input=str(pairs), options=SMALL, quiet=True,
                      allow_empty=True)
    first = tables(datagen_home, f"constitution@{built.version}")
    check_contract(first)
    # same seed, same models: the same constitution and tables (the calls come from the cache)
    again = run_build("constitution", input=str(pairs), options=SMALL, quiet=True,
                      allow_empty=True)
    assert again.usage["calls"] == 0
    second = tables(datagen_home, f"constitution@{again.version}")
    assert second["rows"] == first["rows"] and second["votes"] == first["votes"]

    # no --pairs: the pairs the constitution was built from, read with its column options
    result = CliRunner().invoke(cli, [
        "eval", "constitution", f"constitution@{built.version}", "-q",
        "-o", 'max_tokens={"judge": 16}'])
    assert result.exit_code == 0, result.output
    assert "held_out" in result.output and "Recorded as metric" in result.output
    with Catalog.open(datagen_home) as cat:
        (metric,) = cat.records("metrics", kind="constitution")
    assert (metric["dataset"], metric["version"]) == ("constitution", built.version)
    assert metric["inputs"]["pairs"] == str(pairs.resolve())
    assert metric["inputs"]["pairs_lineage"]["sha256"] == first["lineage"]["sha256"]
    m = metric["metrics"]
    assert (m["pairs_train_rules"], m["pairs_held_out_rules"], m["pairs_all_no_rules"]) == (
        PAIRS, 0, PAIRS)
    for key in ("agreement_all_rules", "agreement_all_no_rules"):
        assert 0.0 <= m[key] <= 1.0
    assert metric["detail"]["rules"] == [r["rule"] for r in first["rows"]]
    refs = metric["inputs"]["judgments"]
    assert set(refs) == {"rules", "no_rules"}
    with Catalog.open(datagen_home) as cat:  # every judgment is kept, with rules and without
        for ref in refs.values():
            assert len(cat.read_step(ref, "judgments")) == PAIRS


def test_constitutional_prefs_labels_pairs_in_trl_format(datagen_home: Path):
    built = run_build("constitutional-prefs", limit=2, quiet=True, allow_empty=True,
                      options={"max_tokens": {"judge": 16}})
    ref = f"constitutional-prefs@{built.version}"
    with Catalog.open(datagen_home) as cat:
        rows = cat.read_arrow(ref).to_pylist()
        judgments = cat.read_step(ref, "judgments").to_pylist()
        failures = cat.sql("SELECT step FROM failures").to_pylist()
    assert len(judgments) == 2 and len(rows) + len(failures) == 2
    by_texts = {frozenset((p["text_a"], p["text_b"])): p for p in orthogonal_frame(2).to_dicts()}
    for row in rows:
        pair = by_texts[frozenset((row["chosen"], row["rejected"]))]
        assert row["label"] == ("a" if pair["preferred_text"] == "text_a" else "b")
        assert row["agrees"] == (row["preferred"] == row["label"])
        assert len(row["rules"]) == 3
