"""C3PO end to end on the real embedded model (SmolLM2-135M, llama.cpp) with a small budget:
build feedback-prefs from one sentence, then `datagen eval feedback` against the stored
baselines. The 135M model's prompts and judgments are near chance; these tests hold the
contract: every kept prompt ends as a row or a failure row, row kinds and splits are
consistent, and the eval's metrics row matches the judged rows it was computed from."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.build import run_build
from datagen.catalog import Catalog
from datagen.cli import cli
from datagen_plugins.c3po import logic

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

FEEDBACK = "Don't use emojis in emails to my boss"
# One category, 3 prompts per scope, short answers: under two minutes on a 2-core machine
# shared with other jobs (load average ~20), build and evaluation together.
TINY = {
    "feedback": FEEDBACK,
    "categories": 1,
    "in_scope_prompts": 3,
    "near_scope_prompts": 3,
    "out_of_scope_prompts": 3,
    "prompts_per_call": 3,
    "oversample": 1.0,
    "max_tokens": {"categories": 48, "prompts": 128, "baseline": 40, "revision": 40},
}


@pytest.fixture(autouse=True)
def needs_embedded():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the embedded extra) is missing")


def test_one_sentence_to_rows_to_feedback_scores(datagen_home: Path):
    built = run_build("feedback-prefs", options=TINY, quiet=True)
    with Catalog.open(datagen_home) as catalog:
        ref = f"feedback-prefs@{built.version}"
        (feedback,) = catalog.read_step(ref, "feedbacks").to_pylist()
        assert feedback["content"] == FEEDBACK and feedback["derived"] is True
        assert feedback["domain"] and feedback["effect"]
        scoped = catalog.read_step(ref, "scoped_prompts").to_pylist()
        rows = catalog.read_arrow(ref).to_pylist()
        failed = set(catalog.sql(
            f"SELECT input_id FROM failures WHERE build_id = '{built.build_id}'"
        ).column("input_id").to_pylist())
    assert {r["prompt_id"] for r in rows} | failed >= {p["id"] for p in scoped}
    split_of = {p["id"]: p["split"] for p in scoped}
    for row in rows:
        assert row["split"] == split_of[row["prompt_id"]]
        assert (row["rejected"] is None) == (row["kind"] != "in_scope")
        assert row["feedback"] == FEEDBACK

    result = CliRunner().invoke(cli, [
        "eval", "feedback", "--dataset", ref, "--model", "embedded", "--judge", "embedded",
        "--max-tokens", "40", "-q",
    ])
    assert result.exit_code == 0, result.output
    assert "overall" in result.output
    with Catalog.open(datagen_home) as catalog:
        (metric,) = catalog.records("metrics", kind="feedback")
        judged = catalog.read_arrow(metric["inputs"]["eval"]).to_pylist()
    assert (metric["dataset"], metric["version"]) == ("feedback-prefs", built.version)
    assert (metric["model"], metric["judge"]) == ("embedded", "embedded")
    test_ids = {p for p, s in split_of.items() if s == "test" and p in
                {r["prompt_id"] for r in rows}}
    assert {j["prompt_id"] for j in judged} <= test_ids
    assert len(judged) + metric["detail"]["judge_failures"] >= len(test_ids)
    for row in judged:
        assert row["value"] == logic.mapped(row["score"])
    scores = logic.feedback_score((j["kind"], j["score"]) for j in judged)
    if metric["metrics"]["S_overall"] is not None:
        assert metric["metrics"]["S_overall"] == pytest.approx(scores.overall)
        assert -1 <= metric["metrics"]["S_in"] <= 1 and 0 <= metric["metrics"]["S_out"] <= 1
