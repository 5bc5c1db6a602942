"""MultiCritique rules with plain values and scripted agents (no real model).

The scripted model only stands in for the agents so the orchestration can be pinned down;
the end-to-end tests in test_multicritique_embedded.py run the real embedded model.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from multicritique_fixtures import (
    ScriptedModel,
    critique_answer,
    default_script,
    persona_of,
    unit,
    unit_description,
    user_text,
)

from datagen.errors import InvalidInput, InvalidOptions
from datagen.testing import scripted_context
from datagen_plugins.multicritique.criticeval import read_criticeval
from datagen_plugins.multicritique.generator import MultiCritique, MultiCritiquePref
from datagen_plugins.multicritique.logic import (
    accumulated_severity,
    exact_match_score,
    final_answer,
    merge_duplicates,
    preference_pairs,
    revisions_confirm,
)
from datagen_plugins.multicritique.records import CheckFailed, Unit, parse_units
from datagen_plugins.multicritique.tagging import tag_response

CRITICEVAL = Path(__file__).parent / "data" / "criticeval"
PENALTIES = {"L0": 0, "L1": 5, "L2": 2, "L3": 1, "L4": 4, "L5": 4, "L6": 1}


def batch(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows))


ROW = {
    "id": "r1",
    "task_type": "qa",
    "query": "Capital of Australia?",
    "response": "It is Sydney. It is big.",
}


def run(script, rows=(ROW,), generator=MultiCritique, models=None, **options):
    """Run a batch; list roles get every model given, single roles the first."""
    gen = generator(generator.parse_options(options))
    models = models or [ScriptedModel(script)]
    roles = {role.name: models if role.many else models[0] for role in gen.roles}
    return gen.generate(batch(*rows), scripted_context(gen, roles)), models


def _persona_index(request) -> int:
    system = persona_of(request)
    for index, word in enumerate(("strict", "domain", "user.", "editor")):
        if word.rstrip(".") in system and (word != "user." or "for the user" in system):
            return index
    raise AssertionError(system)


# -- tagging -------------------------------------------------------------------------------


def test_tagging_splits_sentences_but_keeps_numbers_and_abbreviations():
    tagged = tag_response("It costs 3.5 dollars, e.g. cheap. Buy it! Why?\nNew line")
    assert tagged.pieces == ("It costs 3.5 dollars, e.g. cheap.", "Buy it!", "Why?", "New line")
    assert tagged.text().splitlines()[0].endswith("[S1]")
    assert tagged.tags == ("S1", "S2", "S3", "S4")


def test_tagging_code_tags_each_nonblank_line():
    tagged = tag_response("def f(x):\n\n    return x. y", "code")
    assert tagged.pieces == ("def f(x):", "    return x. y")


# -- cited tags exist ------------------------------------------------------------------------


def test_a_unit_citing_a_missing_tag_fails_the_check():
    with pytest.raises(CheckFailed, match="S9"):
        parse_units(
            {"units": [unit(["S9"], "Accuracy", "x", "Minor")]}, ("S1", "S2"), ["Accuracy"], 5
        )


def test_critique_with_an_unknown_tag_becomes_a_failure_and_other_agents_go_on():
    def script(request):
        if request.step == "critique" and _persona_index(request) == 1:
            return critique_answer([unit(["S7"], "Accuracy", "Ghost sentence.", "Minor")])
        return default_script(request)

    out, _ = run(script)
    bad = [f for f in out.failures if f.step == "critique"]
    assert len(bad) == 1 and "S7" in bad[0].reason and bad[0].input_id == "r1"
    assert "S7" in bad[0].raw_output
    units = out.steps["critique_units"]
    assert sorted({u["agent"] for u in units}) == [0, 2, 3]
    tagged = out.steps["crucial_info"][0]["tagged_response"]
    for record in units + out.rows[0]["units"]:
        for tag in record["tags"]:
            assert f"[{tag}]" in tagged


def test_critique_schema_limits_tags_and_criteria_to_the_ones_that_exist():
    _, (model,) = run(default_script)
    schema = model.requests("critique")[0].json_schema
    unit_schema = schema["properties"]["units"]["items"]["properties"]
    assert unit_schema["tags"]["items"]["enum"] == ["S1", "S2"]
    assert unit_schema["criterion"]["enum"] == ["Accuracy", "Arithmetic", "Wording"]


# -- penalties add up ------------------------------------------------------------------------


def labelled_script(labels_by_description: dict[str, str], units_by_agent: dict[int, list]):
    def script(request):
        if request.step == "critique":
            return critique_answer(units_by_agent.get(_persona_index(request), []))
        if request.step == "meta_label":
            return {"label": labels_by_description[unit_description(request)], "reason": "r"}
        return default_script(request)

    return script


def test_accumulated_severity_is_the_sum_of_penalties():
    assert accumulated_severity(["L0", "L1", "L2", "L6"], PENALTIES) == 8
    assert accumulated_severity([], PENALTIES) == 0


def test_agent_severity_sums_its_units_penalties():
    units = {
        0: [unit(["S1"], "Accuracy", "a", "Severe"), unit(["S2"], "Wording", "b", "Minor")],
        1: [unit(["S2"], "Wording", "c", "Minor")],
        2: [
            unit(["S1"], "Accuracy", "d", "Severe"),
            unit(["S2"], "Wording", "e", "Minor"),
            unit(["S2"], "Accuracy", "f", "Moderate"),
        ],
    }
    labels = {"a": "L0", "b": "L1", "c": "L4", "d": "L2", "e": "L3", "f": "L5"}
    out, _ = run(labelled_script(labels, units))
    severity = {r["agent"]: r["accumulated_severity"] for r in out.steps["agent_critiques"]}
    assert severity == {0: 5, 1: 4, 2: 2 + 1 + 4, 3: 0}
    penalties = {r["label"]: r["penalty"] for r in out.steps["meta_labels"]}
    assert penalties == {k: PENALTIES[k] for k in ("L0", "L1", "L4", "L2", "L3", "L5")}


def test_custom_penalties_are_used():
    units = {0: [unit(["S1"], "Accuracy", "a", "Severe")]}
    out, _ = run(labelled_script({"a": "L1"}, units), penalties=[0, 9, 2, 1, 4, 4, 1])
    assert out.steps["meta_labels"][0]["penalty"] == 9
    assert out.steps["agent_critiques"][0]["accumulated_severity"] == 9


def test_judge_labels_each_unit_in_its_own_request_all_in_one_call():
    units = {a: [unit(["S1"], "Accuracy", f"u{a}", "Minor")] for a in range(4)}
    _, (model,) = run(labelled_script({f"u{a}": "L0" for a in range(4)}, units))
    judge_calls = [c for c in model.calls if c[0].step == "meta_label"]
    assert len(judge_calls) == 1 and len(judge_calls[0]) == 4
    critique_calls = [c for c in model.calls if c[0].step == "critique"]
    assert len(critique_calls) == 1 and len(critique_calls[0]) == 4


# -- duplicates merge ----------------------------------------------------------------------


def test_merge_joins_only_units_with_the_same_tags_and_criterion():
    units = [
        Unit(["S1"], "Accuracy", "Wrong city.", "Moderate", "Say Canberra.", 0, "a"),
        Unit(["S1"], "Accuracy", "Not the capital.", "Severe", "Name Canberra.", 1, "b"),
        Unit(["S1"], "Wording", "Vague.", "Minor", "Be precise.", 2, "c"),
        Unit(["S1", "S2"], "Accuracy", "Both wrong.", "Minor", "Fix both.", 3, "d"),
    ]
    merged = merge_duplicates(units)
    assert [(u.tags, u.criterion) for u in merged] == [
        (["S1"], "Accuracy"), (["S1"], "Wording"), (["S1", "S2"], "Accuracy")
    ]
    assert merged[0].severity == "Severe" and sorted(merged[0].sources) == ["a", "b"]
    assert merged[0].description == "Not the capital. Wrong city."
    assert [u.sources for u in merged[1:]] == [["c"], ["d"]]


def test_final_critique_merges_duplicate_units_from_agents():
    units = {
        0: [unit(["S1"], "Accuracy", "Sydney is wrong.", "Severe")],
        1: [unit(["S1"], "Accuracy", "Not the capital.", "Moderate")],
        2: [unit(["S2"], "Wording", "Vague.", "Minor")],
        3: [unit(["S2"], "Wording", "Wrong claim.", "Minor")],
    }
    labels = {
        "Sydney is wrong.": "L0",
        "Not the capital.": "L0",
        "Vague.": "L0",
        "Wrong claim.": "L1",
    }
    out, _ = run(labelled_script(labels, units))
    row = out.rows[0]
    assert [u["tags"] for u in row["units"]] == [["S1"], ["S2"]]
    assert len(row["units"][0]["sources"]) == 2 and row["units"][0]["severity"] == "Severe"
    assert len(row["units"][1]["sources"]) == 1
    final = out.steps["final_critiques"][0]
    assert len(final["dropped_unit_ids"]) == 1
    assert "[S1]" in row["critique"] and "Wrong claim." not in row["critique"]


def test_every_fixable_unit_is_repaired_and_kept():
    units = {
        0: [
            unit(["S1"], "Accuracy", "a", "Minor"),
            unit(["S2"], "Wording", "b", "Minor"),
            unit(["S2"], "Accuracy", "c", "Minor"),
        ]
    }

    def script(request):
        if request.step == "aggregate":
            return {
                "repaired": {
                    "1": {"criterion": "Accuracy", "severity": "Severe",
                          "description": "Sydney is not the capital.",
                          "suggestion": "Say Canberra."},
                    "2": {"criterion": "Wording", "severity": "Minor", "description": "b",
                          "suggestion": "Name the size in people."},
                    "3": {"criterion": "Arithmetic", "severity": "Minor", "description": "c",
                          "suggestion": "Fix it."},
                },
                "summaries": [{"criterion": "Correctness", "summary": "Wrong."}],
                "score": 2,
            }
        return labelled_script({"a": "L3", "b": "L6", "c": "L2"}, units)(request)

    out, (model,) = run(script)
    (request,) = model.requests("aggregate")
    text = user_text(request)
    assert "1. [S1]" in text and "2. [S2]" in text and "3. [S2]" in text
    assert "judge: L6 (unhelpful suggestion)" in text
    assert set(request.json_schema["properties"]["repaired"]["required"]) == {"1", "2", "3"}
    final = [(u["tags"], u["criterion"], u["severity"]) for u in out.rows[0]["units"]]
    assert final == [
        (["S1"], "Accuracy", "Severe"), (["S2"], "Arithmetic", "Minor"),
        (["S2"], "Wording", "Minor"),
    ]
    assert out.steps["final_critiques"][0]["dropped_unit_ids"] == []
    assert "Name the size in people." in out.rows[0]["critique"]


# -- records -------------------------------------------------------------------------------


def test_sft_row_has_trl_messages_and_validates_against_its_schema():
    from datagen.validation import RowValidator

    out, _ = run(default_script)
    (row,) = out.rows
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
    assert "Sydney. [S1]" in row["messages"][0]["content"]
    assert row["messages"][-1]["content"].endswith("Score: 4/10")
    assert row["score"] == 4 and row["reference"] == "A correct answer."
    assert RowValidator.for_schema("critique-sft").problem(row) is None
    for step, schema in MultiCritique.step_schemas.items():
        for record in out.steps[step]:
            assert RowValidator.for_schema(schema).problem(record) is None, step


def test_reference_is_skipped_for_math_and_code():
    rows = [
        {**ROW, "id": "m", "task_type": "math", "response": "2+2=5."},
        {**ROW, "id": "c", "task_type": "code", "response": "print(1)"},
    ]
    out, (model,) = run(default_script, rows)
    assert model.requests("reference") == []
    assert all(r["reference_skipped"] for r in out.steps["crucial_info"])
    assert "Reference response" not in user_text(model.requests("critique")[0])


def test_user_criteria_stay_primary_and_criteria_are_capped():
    out, _ = run(default_script, [{**ROW, "criteria": ["Politeness"]}], max_criteria=2)
    criteria = out.steps["crucial_info"][0]["criteria"]
    assert [c["primary"] for c in criteria] == ["Politeness", "Correctness"]


# -- failures are rows, never silent --------------------------------------------------------


def test_a_failed_task_description_fails_only_that_input():
    rows = [ROW, {**ROW, "id": "r2", "query": "Boiling point of water?"}]

    def script(request):
        if request.step == "task_description" and "Boiling" in user_text(request):
            return None
        return default_script(request)

    out, _ = run(script, rows)
    assert [r["input_id"] for r in out.rows] == ["r1"]
    (failure,) = out.failures
    assert (failure.step, failure.input_id, failure.reason) == (
        "task_description",
        "r2",
        "the scripted call failed",
    )


def test_invalid_json_and_out_of_range_scores_become_failures():
    def script(request):
        if request.step == "aggregate":
            return {"summaries": [{"criterion": "Correctness", "summary": "x"}], "score": 11}
        if request.step == "meta_label":
            return '{"label": "L0", "reason": "cut'
        return default_script(request)

    out, _ = run(script)
    steps = sorted({f.step for f in out.failures})
    assert steps == ["aggregate", "meta_label"]
    assert out.rows == []
    assert any("11" in f.reason for f in out.failures)


def test_rows_without_response_and_missing_columns():
    out, _ = run(default_script, [{**ROW, "response": ""}])
    assert out.rows == [] and out.failures[0].step == "input"
    with pytest.raises(InvalidInput, match="'question'"):
        run(default_script, columns={"query": "question"})


def test_column_mapping_reads_other_names():
    row = {"uid": "x", "prompt": ROW["query"], "answer": ROW["response"], "kind": "qa"}
    out, _ = run(
        default_script,
        [row],
        columns={"id": "uid", "query": "prompt", "response": "answer", "task_type": "kind"},
    )
    assert out.rows[0]["input_id"] == "x" and out.rows[0]["task_type"] == "qa"


# -- options --------------------------------------------------------------------------------


def test_defaults_are_the_papers_and_unknown_options_are_rejected():
    options = MultiCritique.parse_options({})
    assert options.severity_gap == 5 and options.penalties == (0, 5, 2, 1, 4, 4, 1)
    assert options.max_criteria == 15 and options.max_fine_grained == 3
    assert (options.agents, options.revision_samples) == (4, 8)
    assert [r.name for r in MultiCritique(options).model_roles()] == [
        "agents", "ci", "judge", "aggregator"
    ]
    assert [r.name for r in MultiCritiquePref.roles] == [
        "agents", "ci", "judge", "revisers", "scorer"
    ]
    with pytest.raises(InvalidOptions, match="severity_gapp"):
        MultiCritique.parse_options({"severity_gapp": 3})
    with pytest.raises(InvalidOptions, match="L9"):
        MultiCritique.parse_options({"keep_labels": ["L9"]})


def test_distinct_models_each_get_their_agents_requests_without_personas():
    models = [ScriptedModel(spec=f"m{i}") for i in range(4)]
    out, _ = run(default_script, models=models)
    for model in models:
        (critique,) = model.requests("critique")
        assert persona_of(critique) == ""  # a model of its own needs no persona
    assert len(models[0].requests("meta_label")) == 4
    assert {r["model"] for r in out.steps["critique_units"]} == {"m0", "m1", "m2", "m3"}
    assert {r["persona"] for r in out.steps["critique_units"]} == {""}


def test_agents_sharing_a_model_get_personas():
    models = [ScriptedModel(spec="a"), ScriptedModel(spec="b")]
    out, _ = run(default_script, models=models)
    assert [_persona_index(r) for r in models[0].requests("critique")] == [0, 2]
    assert [_persona_index(r) for r in models[1].requests("critique")] == [1, 3]
    assert {r["persona"] for r in out.steps["agent_critiques"]} == {
        "strict-reviewer", "domain-expert", "user-advocate", "editor"
    }


# -- preference pairs ----------------------------------------------------------------------


def test_pairs_respect_the_gap():
    pairs = preference_pairs({0: 0, 1: 4, 2: 5, 3: 9}, 5)
    assert {(p.chosen, p.rejected, p.gap) for p in pairs} == {(0, 2, 5), (0, 3, 9), (1, 3, 5)}
    assert preference_pairs({0: 3, 1: 3}, 0) == []


def test_revisions_confirm_only_a_strictly_better_chosen_mean():
    assert revisions_confirm([8, 6], [5, 5])
    assert not revisions_confirm([5, 5], [5, 5])
    assert not revisions_confirm([4], [6, 2, 9])
    assert not revisions_confirm([], [1])


def pref_script(revision_scores: dict[int, int]):
    """Agent 0 writes a correct unit, agent 1 a false one (gap 5); agents 2, 3 find nothing
    ... so the pairs are (0, 1), (2, 1), (3, 1). Scores depend on whose critique was followed."""
    units = {
        0: [unit(["S1"], "Accuracy", "good0", "Severe")],
        1: [unit(["S2"], "Wording", "bad1", "Minor")],
    }
    labels = {"good0": "L0", "bad1": "L1"}

    def script(request):
        if request.step == "revision":
            agent = 0 if "good0" in user_text(request) else 1 if "bad1" in user_text(request) else 2
            return {"revised_response": f"revised after agent {agent}"}
        if request.step == "score":
            agent = int(user_text(request).split("revised after agent ")[1][0])
            return {"score": revision_scores[agent]}
        return labelled_script(labels, units)(request)

    return script


def test_pair_is_kept_when_chosen_revisions_score_higher():
    from datagen.validation import RowValidator

    out, (model,) = run(
        pref_script({0: 8, 1: 3, 2: 5}), generator=MultiCritiquePref, revision_samples=2
    )
    pairs = {(p["chosen_agent"], p["rejected_agent"]): p for p in out.steps["preference_pairs"]}
    # empty critiques (agents 2, 3) may not win: agent 0's unit shows the response is flawed
    assert set(pairs) == {(0, 1), (2, 1), (3, 1)}
    assert [k for k, p in pairs.items() if p["kept"]] == [(0, 1)]
    assert "finds no flaw" in pairs[(2, 1)]["reason"]
    (row,) = out.rows
    assert row["severity_gap"] == 5 and row["rejected_severity"] == 5
    assert row["chosen_revision_score"] == 8 and row["rejected_revision_score"] == 3
    assert row["prompt"][0]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
    assert "good0" in row["chosen"][0]["content"] and "bad1" in row["rejected"][0]["content"]
    assert RowValidator.for_schema("critique-pref").problem(row) is None
    # 4 revisers revise each of the 2 critiques twice; the scorer rates all 16 revisions.
    assert len(model.requests("revision")) == 16 and len(model.requests("score")) == 16
    assert model.requests("aggregate") == []


def test_pair_is_dropped_when_chosen_revisions_do_not_score_higher():
    out, _ = run(pref_script({0: 3, 1: 6, 2: 6}), generator=MultiCritiquePref, revision_samples=1)
    pairs = out.steps["preference_pairs"]
    assert pairs and not any(p["kept"] for p in pairs)
    assert out.rows == []


def test_no_pair_below_the_gap():
    out, (model,) = run(
        pref_script({0: 8, 1: 3, 2: 5}), generator=MultiCritiquePref, severity_gap=6
    )
    assert out.rows == [] and "preference_pairs" not in out.steps
    assert model.requests("revision") == []


def test_math_revisions_are_scored_by_exact_answer_match():
    row = {
        **ROW,
        "task_type": "math",
        "query": "17*23?",
        "response": "It is 381. Done.",
        "reference": "391",
    }

    def script(request):
        if request.step == "revision":
            good = "good0" in user_text(request)
            return {"revised_response": "17*23 = 391" if good else "17*23 = 381"}
        return pref_script({})(request)

    out, (model,) = run(script, [row], generator=MultiCritiquePref, revision_samples=1)
    assert model.requests("score") == []
    revisions = out.steps["revisions"]
    assert {r["scored_by"] for r in revisions} == {"exact_match"}
    assert {r["agent"]: r["score"] for r in revisions if r["agent"] in (0, 1)} == {0: 10, 1: 1}
    assert any(r["chosen_agent"] == 0 for r in out.rows)


def test_final_answer_and_exact_match():
    assert final_answer("so 3 + 2 = 5 DVDs. #### 5") == "5"
    assert final_answer("total 1,200.50") == "1200.5"
    assert final_answer("none") is None
    assert exact_match_score("x = 391", "391", range(1, 11)) == 10
    assert exact_match_score("x = 381", "391", range(1, 11)) == 1


# -- CriticEval inputs ----------------------------------------------------------------------


def test_criticeval_items_give_query_and_response():
    records = read_criticeval(CRITICEVAL / "test_math_cot_feedback_obj.json")
    assert records[0]["task_type"] == "math"
    assert records[0]["query"].startswith("Billy sells DVDs.")
    assert records[0]["response"].startswith("Step-by-step reasoning process")
    assert "Decision" not in records[0]["response"]
    chat = read_criticeval(CRITICEVAL / "test_chat_feedback_obj.json")
    assert chat[1]["response"] == ""


def test_multi_turn_queries_are_rendered_with_roles():
    conversation = [
        {"role": "user", "content": "I need a capital."},
        {"role": "assistant", "content": "Of which country?"},
        {"role": "user", "content": "Australia."},
    ]
    out, (model,) = run(default_script, [{**ROW, "query": conversation}])
    assert out.rows[0]["query"].splitlines() == [
        "user: I need a capital.",
        "assistant: Of which country?",
        "user: Australia.",
    ]
    assert "assistant: Of which country?" in user_text(model.requests("critique")[0])


def test_agents_beyond_the_personas_get_their_own_seeds():
    _, (model,) = run(default_script, agents=6)
    seeds = [r.seed for r in model.requests("critique")]
    assert len(seeds) == 6 and len(set(seeds)) == 6
