"""The labelled set (``critique-heldout``) and the critic evaluation (``datagen eval critique``).

Labels are checked by recomputing every sentence independently; metrics against values
worked out by hand; the critic run with a scripted critic (orchestration) and, end to end,
with the real embedded model through the CLI.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from multicritique_fixtures import ScriptedModel

from datagen.errors import InvalidInput
from datagen.testing import scripted_context
from datagen_plugins.multicritique import critic_metrics as cm
from datagen_plugins.multicritique.critic_eval import CritiqueEval, read_critique
from datagen_plugins.multicritique.heldout import (
    CAPITALS,
    CONVERSIONS,
    SIDES,
    SYMBOLS,
    make_item,
    plan_rows,
)

DATA = Path(__file__).parents[1] / "catalogs" / "data"


def all_items(seed: int = 0) -> list[dict]:
    return [make_item(row, seed) for row in plan_rows()]


# -- the labelled set ----------------------------------------------------------------------


def sentence_is_right(sentence: str) -> bool:
    """Recompute one answer sentence without the generator's code."""
    if m := re.fullmatch(r"(\d+) (times|plus|minus) (\d+) is (\d+)\.", sentence):
        a, op, b, value = int(m[1]), m[2], int(m[3]), int(m[4])
        return value == {"times": a * b, "plus": a + b, "minus": a - b}[op]
    if m := re.fullmatch(r"(\d+) (\w+) is (\d+) (\w+)\.", sentence):
        factor = {(s, t): f for s, t, f in CONVERSIONS}[(m[2], m[4])]
        return int(m[3]) == int(m[1]) * factor
    if m := re.fullmatch(r"(\w+ \d+, \d+) is a (\w+)\.", sentence):
        return datetime.strptime(m[1], "%B %d, %Y").strftime("%A") == m[2]
    if m := re.fullmatch(r"From (.+) to (.+) there are (\d+) days\.", sentence):
        start, end = (datetime.strptime(d, "%B %d, %Y") for d in (m[1], m[2]))
        return (end - start).days == int(m[3])
    if m := re.fullmatch(r"(\d+) days after (.+) it is (.+)\.", sentence):
        start = datetime.strptime(m[2], "%B %d, %Y")
        return start + timedelta(days=int(m[1])) == datetime.strptime(m[3], "%B %d, %Y")
    if m := re.fullmatch(r"The capital of (\w+) is (\w+)\.", sentence):
        return dict(CAPITALS)[m[1]] == m[2]
    if m := re.fullmatch(r"The chemical symbol of (\w+) is (\w+)\.", sentence):
        return dict(SYMBOLS)[m[1]] == m[2]
    if m := re.fullmatch(r"An? (\w+) has (\d+) sides\.", sentence):
        return dict(SIDES)[m[1]] == int(m[2])
    raise AssertionError(f"unrecognised sentence {sentence!r}")


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_label_matches_a_recomputation_of_its_sentence(seed):
    for item in all_items(seed):
        sentences = re.findall(r"^(.*) \[(S\d+)\]$", item["tagged_response"], re.MULTILINE)
        *answers, (closing, _) = sentences
        assert closing == "I hope these answers help."
        wrong = [tag for sentence, tag in answers if not sentence_is_right(sentence)]
        assert wrong == item["error_tags"], item["id"]
        assert item["errors"] == len(wrong) and item["flawed"] == bool(wrong)
        assert len(item["error_notes"]) == len(wrong)


def test_the_plan_is_balanced_in_any_prefix_and_the_bundled_file_is_it():
    items = all_items()
    assert len(items) == 120 and len({i["id"] for i in items}) == 120
    for prefix in (12, 48, 120):
        head = items[:prefix]
        assert {k: sum(i["kind"] == k for i in head) for k in ("arithmetic", "dates")} == {
            "arithmetic": prefix // 4, "dates": prefix // 4
        }
        assert sum(i["errors"] == 0 for i in head) == prefix // 3
    bundled = [json.loads(line) for line in (DATA / "critique-heldout-plan.jsonl").open()]
    assert bundled == plan_rows()


def test_the_labelled_set_is_disjoint_from_the_seed_set():
    seeds = [json.loads(line) for line in (DATA / "critique-seeds.jsonl").open()]
    seed_text = " ".join(s["query"] + " " + s["response"] for s in seeds).lower()
    for item in all_items():
        for line in item["query"].splitlines()[1:]:
            assert line.removeprefix("- ").lower() not in seed_text
        for sentence in re.findall(r"^(.*) \[S\d+\]$", item["tagged_response"], re.MULTILINE)[:-1]:
            assert sentence.lower() not in seed_text, sentence
    assert "australia" not in " ".join(c for c, _ in CAPITALS).lower()


def test_same_seed_same_items_other_seed_other_items():
    assert all_items(3) == all_items(3)
    assert [i["response"] for i in all_items(3)] != [i["response"] for i in all_items(4)]


def test_a_bad_plan_row_names_the_item():
    with pytest.raises(InvalidInput, match="x-1.*kind 'poetry'"):
        make_item({"id": "x-1", "kind": "poetry", "errors": 1}, 0)
    with pytest.raises(InvalidInput, match="x-2.*errors must be 0, 1 or 2"):
        make_item({"id": "x-2", "kind": "dates", "errors": 3}, 0)


# -- reading a critique ----------------------------------------------------------------------


def test_read_critique_takes_the_last_score_in_range_and_tags_before_the_summary():
    text = (
        "Flaws:\n[S2] Accuracy (Severe): wrong. Suggestion: fix [S9].\n\n"
        "Summary:\n- Correctness: see [S3].\n\nScore: 4/10"
    )
    assert read_critique(text, ("S1", "S2", "S3"), range(1, 11)) == (4, ["S2"])
    assert read_critique("Score: 42", ("S1",), range(1, 11)) == (None, [])
    assert read_critique("score: 8 out of 10", ("S1",), range(1, 11)) == (8, [])
    assert read_critique("nothing here", ("S1",), range(1, 11)) == (None, [])


# -- metrics ---------------------------------------------------------------------------------


def judged(errors, score, cited=(), error_tags=None):
    tags = error_tags if error_tags is not None else [f"S{k + 1}" for k in range(errors)]
    return {"errors": errors, "error_tags": tags, "score": score, "cited_tags": list(cited),
            "parse_valid": score is not None}


ITEMS = [
    judged(0, 9), judged(0, 5), judged(1, 3, ["S1"]), judged(1, 8, ["S2"]),
    judged(2, 2, ["S2"]), judged(2, None), judged(0, None), judged(1, 6, ["S3"], ["S3"]),
]


def test_detection_figures_match_a_hand_count():
    # flagged (score < 7): items 1, 2, 4, 7 -> tp 3 (2, 4, 7), fp 1 (1), fn 2 (3, 5)
    assert cm.precision(ITEMS, 7) == 3 / 4
    assert cm.recall(ITEMS, 7) == 3 / 5
    assert cm.f1(ITEMS, 7) == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert cm.localisation(ITEMS) == 3 / 5  # items 2, 4, 7 cite an error sentence
    assert cm.parse_valid(ITEMS) == 6 / 8


def test_rank_correlation_handles_ties():
    assert cm.ranks([3, 1, 3, 2]) == [3.5, 1.0, 3.5, 2.0]
    assert cm.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert cm.rank_correlation([1, 1, 1], [1, 2, 3]) is None
    # scores 9 5 3 8 2 6 (ranks 6 3 2 5 1 4) against errors 0 0 1 1 2 1 (ranks 1.5 1.5 4 4
    # 6 4), unreadable items left out: covariance -10, variances 17.5 and 15
    assert cm.spearman(ITEMS) == pytest.approx(-10 / (17.5 * 15) ** 0.5)


def test_majority_baselines_and_bootstrap_intervals():
    base = cm.baselines(ITEMS)
    assert base["recall"] == 1.0 and base["precision"] == 5 / 8
    assert base["f1"] == pytest.approx(2 * 5 / (2 * 5 + 3))
    assert base["localisation"] == 4 / 5  # S1 is an error sentence of 4 of the 5 flawed items
    summary = cm.summarize(ITEMS, 7, resamples=300, seed=1)
    for name, figure in summary.items():
        if figure["value"] is not None:
            low, high = figure["interval"]
            assert low <= figure["value"] <= high, name
    assert summary == cm.summarize(ITEMS, 7, resamples=300, seed=1)


# -- the critic run (scripted critic) ----------------------------------------------------------


def perfect_critic(request):
    """Flags exactly the planted errors, citing their tags (it reads them off the query)."""
    if request.step == "crucial_info":
        return "Task description:\nAnswer three questions.\n\nCriteria:\n- Correctness"
    response = request.messages[0].content.split("Response:\n")[1]
    wrong = [tag for sentence, tag in re.findall(r"^(.*) \[(S\d+)\]$", response, re.MULTILINE)
             if sentence != "I hope these answers help." and not sentence_is_right(sentence)]
    flaws = "\n".join(f"[{t}] Accuracy (Severe): wrong. Suggestion: fix." for t in wrong)
    score = 9 - 3 * len(wrong)
    summary = "Summary:\n- Correctness: ok"
    return f"Flaws:\n{flaws or 'No flaws found.'}\n\n{summary}\n\nScore: {score}/10"


def test_the_critic_is_asked_as_the_sft_conversation_and_a_perfect_one_scores_one():
    items = all_items()[:24]
    model = ScriptedModel(perfect_critic)
    gen = CritiqueEval(CritiqueEval.parse_options({}))
    out = gen.generate(pl.DataFrame(items), scripted_context(gen, model))
    first, second = model.requests("crucial_info")[0], model.requests("critique")[0]
    assert [m.role for m in first.messages] == ["user"]
    assert "First write the crucial information" in first.messages[0].content
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[1].content.startswith("Task description:")
    assert "Now critique" in second.messages[2].content
    summary = cm.summarize(out.rows, 7, resamples=50)
    for name in ("f1", "precision", "recall", "localisation", "parse_valid"):
        assert summary[name]["value"] == 1.0, name
    assert summary["spearman"]["value"] == pytest.approx(-1.0)


def test_unreadable_critiques_are_rows_and_failed_calls_are_failure_rows():
    def critic(request):
        if request.step == "crucial_info":
            return "info"
        return None if "minus" in request.messages[0].content else "I like it."

    items = all_items()[:8]
    gen = CritiqueEval(CritiqueEval.parse_options({"turns": "single_turn"}))
    out = gen.generate(pl.DataFrame(items), scripted_context(gen, ScriptedModel(critic)))
    arithmetic = [i["id"] for i in items if i["kind"] == "arithmetic"]
    assert sorted(f.input_id for f in out.failures) == sorted(arithmetic)
    assert {f.step for f in out.failures} == {"critique"}
    assert len(out.rows) == 8 - len(arithmetic)
    assert not any(r["parse_valid"] for r in out.rows)


# -- end to end: the real embedded model through the CLI ----------------------------------------


@pytest.mark.embedded
@pytest.mark.slow
def test_eval_critique_end_to_end_writes_a_linked_metrics_row(datagen_home: Path):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (the embedded extra) is missing")
    from datagen.catalog import Catalog
    from datagen.cli import cli

    runner = CliRunner()
    built = runner.invoke(cli, ["build", "critique-heldout", "-q"])
    assert built.exit_code == 0, built.output
    result = runner.invoke(cli, [
        "eval", "critique", "--dataset", "critique-heldout@1", "--model", "embedded",
        "--limit", "6", "--max-tokens", "24", "--resamples", "50", "-q",
    ])
    assert result.exit_code == 0, result.output
    assert "critique-heldout@1: 6 critiques" in result.output
    with Catalog.open(datagen_home) as cat:
        (record,) = cat.records("metrics", kind="critique")
        rows = cat.read_arrow("critique-eval@1").to_pylist()
    assert (record["dataset"], record["version"], record["model"]) == (
        "critique-heldout", 1, "embedded"
    )
    assert record["inputs"]["eval"] == "critique-eval@1" and record["detail"]["items"] == 6
    assert set(record["metrics"]) == {
        "f1", "precision", "recall", "localisation", "spearman", "parse_valid"
    }
    assert record["metrics"]["parse_valid"]["value"] == sum(r["parse_valid"] for r in rows) / 6
    # the first six items hold two flawed ones: the majority baseline flags nothing
    assert record["metrics"]["f1"]["baseline"] == 0.0
    assert record["metrics"]["recall"]["baseline"] == 0.0
    assert [r["id"] for r in rows][:5] == [
        "arithmetic-0-01", "units-0-01", "dates-0-01", "facts-0-01", "arithmetic-1-01"
    ]
    assert sum(r["errors"] > 0 for r in rows) == 2


def test_eval_refuses_a_dataset_without_labels(datagen_home: Path, tmp_path: Path):
    from datagen.cli import cli

    source = tmp_path / "plain.jsonl"
    source.write_text('{"id": "a", "query": "q", "response": "r"}\n')
    runner = CliRunner()
    runner.invoke(cli, ["import", str(source), "--name", "plain"])
    result = runner.invoke(cli, ["eval", "critique", "--dataset", "plain", "--model", "embedded"])
    assert result.exit_code != 0
    assert "not a labelled critique set" in result.output + str(result.exception)
