"""End-to-end MultiCritique builds on the real embedded model (SmolLM2-135M, llama.cpp).

The 135M model writes mostly wrong critiques; what these tests hold is the contract: every
input ends as valid rows or failure rows, cited tags exist, and each step is a queryable
table whose ids link back to the rows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from datagen.build import run_build
from datagen.catalog import Catalog
from datagen.validation import RowValidator
from datagen_plugins.multicritique.criticeval import read_criticeval

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

CRITICEVAL = Path(__file__).parent / "data" / "criticeval"
# Two agents and small budgets keep these runs short on a shared 2-core machine.
QUICK = {
    "agents": 2,
    "max_primary": 2,
    "max_fine_grained": 2,
    "max_units_per_agent": 2,
    # every budget, since an option given here replaces the recipe's whole max_tokens table
    "max_tokens": {
        "task_description": 48, "criteria": 256, "reference": 96, "critique": 192,
        "meta_label": 32, "aggregate": 160, "revision": 96,
    },
}


@pytest.fixture(autouse=True)
def needs_embedded():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the embedded extra) is missing")


def accounted_inputs(catalog: Catalog, dataset: str, build_id: str) -> set[str]:
    rows = catalog.sql(f'SELECT input_id FROM "{dataset}"').column("input_id").to_pylist()
    failed = (
        catalog.sql(f"SELECT input_id FROM failures WHERE build_id = '{build_id}'")
        .column("input_id")
        .to_pylist()
    )
    return set(rows) | set(failed)


def assert_tags_exist(catalog: Catalog, dataset: str) -> None:
    table = catalog.sql(f'SELECT tagged_response, units FROM "{dataset}"').to_pylist()
    for row in table:
        present = set(re.findall(r"\[(S\d+)\]", row["tagged_response"]))
        for unit in row["units"]:
            assert set(unit["tags"]) <= present


def test_critique_sft_on_seed_rows(datagen_home: Path):
    result = run_build("critique-sft", limit=3, quiet=True, options=QUICK)
    assert result.version == 1
    with Catalog.open(datagen_home) as catalog:
        assert accounted_inputs(catalog, "critique-sft", result.build_id) >= {
            "math-01",
            "math-02",
            "math-03",
        }
        assert set(catalog.steps("critique-sft")) >= {
            "crucial_info",
            "critique_units",
            "meta_labels",
            "agent_critiques",
        }
        assert_tags_exist(catalog, "critique-sft")
        units = catalog.sql(
            'SELECT u.id, u.tags, u.input_id FROM "critique-sft/critique_units" u'
        ).to_pylist()
        tagged = {
            r["input_id"]: r["tagged_response"]
            for r in catalog.sql('SELECT * FROM "critique-sft/crucial_info"').to_pylist()
        }
        for unit in units:
            assert all(f"[{t}]" in tagged[unit["input_id"]] for t in unit["tags"])
        joined = catalog.sql(
            'SELECT m.label, m.penalty FROM "critique-sft/meta_labels" m'
            ' JOIN "critique-sft/critique_units" u ON m.unit_id = u.id'
        ).to_pylist()
        penalties = dict(
            zip(["L0", "L1", "L2", "L3", "L4", "L5", "L6"], [0, 5, 2, 1, 4, 4, 1], strict=True)
        )
        assert all(penalties[r["label"]] == r["penalty"] for r in joined)
        rows = catalog.sql('SELECT * FROM "critique-sft"').to_pylist()
        validator = RowValidator.for_schema("critique-sft")
        for row in rows:
            assert validator.problem(row) is None
            roles = [m["role"] for m in row["messages"]]
            assert roles == ["user", "assistant", "user", "assistant"]
            assert row["task_description"] in row["messages"][1]["content"]
            assert row["messages"][3]["content"] == row["critique"]
            assert 1 <= row["score"] <= 10


def test_critique_sft_on_criticeval_items(datagen_home: Path, tmp_path: Path):
    records = read_criticeval(CRITICEVAL / "test_qa_feedback_obj.json", limit=1)
    records += read_criticeval(CRITICEVAL / "test_math_cot_feedback_obj.json", limit=1)
    source = tmp_path / "criticeval.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_build("critique-sft", input=str(source), quiet=True, options=QUICK)
    with Catalog.open(datagen_home) as catalog:
        assert accounted_inputs(catalog, "critique-sft", result.build_id) == {
            r["id"] for r in records
        }
        assert_tags_exist(catalog, "critique-sft")
        skipped = catalog.sql(
            'SELECT input_id, reference_skipped FROM "critique-sft/crucial_info"'
        ).to_pylist()
        for row in skipped:
            assert row["reference_skipped"] == ("math" in row["input_id"])


def test_critique_pref_writes_pairs_or_says_why_not(datagen_home: Path):
    options = {**QUICK, "revision_samples": 1, "severity_gap": 1}
    # an empty version is a valid outcome here: the step tables then say why no pair was kept
    result = run_build("critique-pref", limit=2, quiet=True, options=options, allow_empty=True)
    with Catalog.open(datagen_home) as catalog:
        rows = catalog.sql('SELECT * FROM "critique-pref"').to_pylist()
        severities = catalog.sql(
            "SELECT input_id, agent, accumulated_severity, fully_labelled"
            ' FROM "critique-pref/agent_critiques"'
        ).to_pylist()
        steps = catalog.steps("critique-pref")
        validator = RowValidator.for_schema("critique-pref")
        for row in rows:
            assert validator.problem(row) is None
            assert row["chosen_revision_score"] > row["rejected_revision_score"]
            for side in ("chosen", "rejected"):
                assert "Summary:" in row[side][0]["content"]
                assert re.search(r"Score: \d+/10$", row[side][0]["content"])
            assert row["rejected_severity"] - row["chosen_severity"] >= 1
        if "preference_pairs" in steps:
            pairs = catalog.sql('SELECT * FROM "critique-pref/preference_pairs"').to_pylist()
            assert sum(p["kept"] for p in pairs) == len(rows) == result.rows
            assert "revisions" in steps
        else:  # no two complete critiques differed: then there is nothing to pair
            by_input: dict[str, set[int]] = {}
            for s in severities:
                if s["fully_labelled"]:
                    by_input.setdefault(s["input_id"], set()).add(s["accumulated_severity"])
            assert all(len(v) < 2 for v in by_input.values())
            assert rows == []
