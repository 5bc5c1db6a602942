"""simulated-prefs over scripted annotators: routing, models per annotator, noise, order
control, invalid answers and bad input. The real model runs in test_simulated_embedded.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simulated_helpers import always, run_all_stages

from datagen.errors import InvalidInput
from datagen.llm import ChatRequest
from datagen.testing import ScriptedModel
from datagen_plugins.simulated.logic import route
from datagen_plugins.simulated.options import bundled_pool
from datagen_plugins.simulated.prefs import SimulatedPrefs

ICAI = Path(__file__).parents[1] / "plugins/simulated/catalog/data/icai-pairs.jsonl"


def pairs(count: int) -> list[dict]:
    return [{"id": f"p{i}", "instruction": f"Question {i}?", "output_1": f"good answer {i}",
             "output_2": f"bad answer {i}"} for i in range(count)]


def generator(**options) -> SimulatedPrefs:
    return SimulatedPrefs(SimulatedPrefs.parse_options(options))


def prefers_good(request: ChatRequest) -> dict:
    """A consistent annotator: picks whichever shown output says 'good'."""
    prompt = request.messages[-1].content
    first = prompt.split("Output 1:")[1].split("Output 2:")[0]
    return {"preferred": 1 if "good" in first else 2}


def test_each_pair_goes_to_its_seeded_annotator_and_reruns_agree():
    out = run_all_stages(generator(seed=4, noise_fraction=0.0), pairs(60), always({"preferred": 1}))
    names = [a.name for a in bundled_pool()]
    assert [r["annotator"] for r in out.rows] == [names[route(f"p{i}", 4, 13)] for i in range(60)]
    assert len({r["annotator"] for r in out.rows}) >= 10
    again = run_all_stages(generator(seed=4, noise_fraction=0.0), pairs(60),
                           always({"preferred": 1}))
    assert again.rows == out.rows
    other = run_all_stages(generator(seed=5, noise_fraction=0.0), pairs(60),
                           always({"preferred": 1}))
    assert [r["annotator"] for r in other.rows] != [r["annotator"] for r in out.rows]


def test_annotator_i_is_served_by_model_i_of_the_role_and_gets_its_own_prompt():
    models = [ScriptedModel(prefers_good, spec=f"model-{k}") for k in range(3)]
    out = run_all_stages(generator(seed=1), pairs(40), {"annotators": models})
    pool = bundled_pool()
    for row in out.rows:
        index = [a.name for a in pool].index(row["annotator"])
        assert row["annotator_model"] == f"model-{index % 3}"
    for k, model in enumerate(models):
        for request in model.requests("annotate"):
            system = request.messages[0].content
            served = [i for i, a in enumerate(pool) if system.startswith(a.instructions)]
            assert served and served[0] % 3 == k
            assert request.temperature == 1.0


def test_noise_marks_replaced_labels_and_keeps_the_annotators_own():
    out = run_all_stages(generator(seed=2, order="both"), pairs(200),
                         ScriptedModel(prefers_good))
    assert len(out.rows) == 200 and not out.failures
    assert all(r["annotator_preference"] == 1 for r in out.rows)
    noisy = [r for r in out.rows if r["is_noisy"]]
    assert 0.38 < len(noisy) / 200 < 0.62
    assert all(r["preference"] == 1 for r in out.rows if not r["is_noisy"])
    assert {r["preference"] for r in noisy} == {1, 2}
    for row in out.rows:
        winner = row["output_1"] if row["preference"] == 1 else row["output_2"]
        assert row["chosen"] == [{"role": "assistant", "content": winner}]
        assert row["prompt"] == [{"role": "user", "content": row["instruction"]}]
        assert row["rejected"][0]["content"] != winner


def test_seeded_order_is_recorded_and_undone():
    biased = always({"preferred": 1})  # always picks whatever is shown first
    out = run_all_stages(generator(seed=3, noise_fraction=0.0), pairs(80), biased)
    orders = {r["shown_order"] for r in out.rows}
    assert orders == {"1-2", "2-1"}
    for row in out.rows:
        assert row["preference"] == (1 if row["shown_order"] == "1-2" else 2)
    judgements = out.steps["judgements"]
    assert {j["shown_swapped"] for j in judgements} == {True, False}
    assert all(j["shown_preference"] == 1 for j in judgements)
    swapped_prompt = [r for r in biased.requests("annotate") if "bad answer" in
                      r.messages[-1].content.split("Output 2:")[0]]
    assert swapped_prompt  # the pair was really shown the other way round


def test_both_orders_keep_consistent_answers_and_fail_position_bias():
    consistent = run_all_stages(generator(order="both", noise_fraction=0.0), pairs(10),
                                ScriptedModel(prefers_good))
    assert [r["shown_order"] for r in consistent.rows] == ["both"] * 10
    assert len(consistent.steps["judgements"]) == 20
    biased = run_all_stages(generator(order="both"), pairs(10), always({"preferred": 1}))
    assert biased.rows == []
    assert len(biased.failures) == 10
    assert all("position bias" in f.reason and f.raw_output for f in biased.failures)


def test_invalid_judge_answers_become_failure_rows_with_the_raw_text():
    def script(request: ChatRequest):
        number = int(request.messages[-1].content.split("Question ")[1].split("?")[0])
        return ["Output 1 is nicer.", {"preferred": 3}, {"preferred": 2}][number % 3]

    out = run_all_stages(generator(), pairs(9), ScriptedModel(script))
    assert len(out.rows) == 3 and len(out.failures) == 6
    assert {f.raw_output for f in out.failures} == {"Output 1 is nicer.", '{"preferred": 3}'}
    assert {f.step for f in out.failures} == {"annotate"}
    assert {r.input_id for r in out.failures} | {r["input_id"] for r in out.rows} == {
        f"p{i}" for i in range(9)}


def test_a_pair_with_an_empty_output_is_a_failure_row_never_dropped():
    rows = pairs(3)
    rows[1]["output_2"] = "  "
    rows[2]["instruction"] = None
    out = run_all_stages(generator(), rows, always({"preferred": 1}))
    assert [r["input_id"] for r in out.rows] == ["p0"]
    assert sorted(f.reason for f in out.failures) == [
        "pair 'p1': output_2 is empty", "pair 'p2': instruction is empty"]


def test_input_without_pair_columns_is_one_line_naming_them():
    with pytest.raises(InvalidInput) as caught:
        run_all_stages(generator(), [{"question": "q", "answer": "a"}], always({}))
    message = str(caught.value)
    assert "\n" not in message and "output_1" in message and "answer, question" in message


def test_column_mapping_and_pairs_from_two_responses_per_prompt():
    mapped = [{"q": "Why?", "a": "because", "b": "no idea"}]
    out = run_all_stages(generator(columns={"instruction": "q", "output_1": "a", "output_2": "b"}),
                         mapped, always({"preferred": 1}))
    assert out.rows[0]["output_2"] == "no idea"
    responses = [
        {"id": "r1", "prompt_id": "x", "prompt": "Hi?", "response": "second", "sample_index": 1},
        {"id": "r0", "prompt_id": "x", "prompt": "Hi?", "response": "first", "sample_index": 0},
        {"id": "r2", "prompt_id": "y", "prompt": "Yo?", "response": "alone", "sample_index": 0},
    ]
    out = run_all_stages(generator(), responses, always({"preferred": 1}))
    assert [(r["output_1"], r["output_2"]) for r in out.rows] == [("first", "second")]
    assert "one response" in out.failures[0].reason and out.failures[0].input_id == "y"


def test_the_bundled_pairs_read_whole():
    rows = [json.loads(line) for line in ICAI.read_text().splitlines()]
    out = run_all_stages(generator(), rows, always({"preferred": 2}))
    assert len(out.rows) == 60 and not out.failures


def test_options_reject_an_empty_pool_and_duplicate_names():
    from datagen.errors import InvalidOptions

    with pytest.raises(InvalidOptions, match="at least one"):
        SimulatedPrefs.parse_options({"annotators": []})
    one = {"name": "a", "instructions": "judge"}
    with pytest.raises(InvalidOptions, match="unique"):
        SimulatedPrefs.parse_options({"annotators": [one, one]})


def test_every_routing_asks_each_annotator_about_each_pair():
    out = run_all_stages(generator(routing="every", noise_fraction=0.0), pairs(3),
                         ScriptedModel(prefers_good))
    assert len(out.rows) == 3 * 13 and len({r["id"] for r in out.rows}) == 39
    assert {r["annotator"] for r in out.rows} == {a.name for a in bundled_pool()}
    assert all(r["preference"] == 1 and not r["is_noisy"] for r in out.rows)
    for pair_id in ("p0", "p1", "p2"):  # each annotator draws its own order
        shown = {j["shown_swapped"] for j in out.steps["judgements"] if j["input_id"] == pair_id}
        assert shown == {True, False}
