"""MultiCritique against METHODS.md section 1: what each prompt carries and what each row holds.

Scripted models stand in for every role and assert nothing themselves; each test reads the
requests a role received and the rows written. The end-to-end runs on the real embedded
model are in test_multicritique_embedded.py.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import polars as pl
from multicritique_fixtures import (
    ScriptedModel,
    critique_answer,
    default_script,
    unit,
    unit_description,
    user_text,
)

from datagen.testing import scripted_context
from datagen.validation import RowValidator
from datagen_plugins.multicritique import request_schemas as schemas
from datagen_plugins.multicritique.generator import MultiCritique, MultiCritiquePref

ROW = {
    "id": "r1",
    "task_type": "qa",
    "query": "Capital of Australia?",
    "response": "It is Sydney. It is big.",
}
RECIPES = Path(__file__).parents[1] / "catalogs" / "multicritique.toml"
CRITERIA_NAMES = ("Accuracy", "Arithmetic", "Wording")


def run(script, generator=MultiCritique, models=None, rows=(ROW,), **options):
    gen = generator(generator.parse_options(options))
    models = models or [ScriptedModel(script)]
    roles = {role.name: models if role.many else models[0] for role in gen.roles}
    return gen.generate(pl.DataFrame(list(rows)), scripted_context(gen, roles)), models[0]


def by_agent_script(units_by_agent, labels, score=5, extra=None):
    """Agent i (told apart by its seed order) writes units_by_agent[i]; the judge labels by
    description; ``extra`` answers other steps first."""
    seen: dict[int, int] = {}

    def script(request):
        if extra is not None and (answer := extra(request)) is not None:
            return answer
        if request.step == "critique":
            agent = seen.setdefault(request.seed, len(seen))
            return critique_answer(units_by_agent.get(agent, []), score)
        if request.step == "meta_label":
            return {"label": labels[unit_description(request)], "reason": "checked"}
        return default_script(request)

    return script


FOUR_AGENTS = {
    0: [unit(["S1"], "Accuracy", "Sydney is not the capital.", "Severe")],
    1: [unit(["S1"], "Accuracy", "The capital is Canberra.", "Severe")],
    2: [unit(["S2"], "Wording", "Big is vague.", "Minor")],
    3: [unit(["S2"], "Arithmetic", "Nothing to compute here.", "Moderate")],
}
FOUR_LABELS = {
    "Sydney is not the capital.": "L0",
    "The capital is Canberra.": "L0",
    "Big is vague.": "L6",
    "Nothing to compute here.": "L1",
}


# -- bug 5: the judge sees the other units, the crucial information and defined levels ------


def test_judge_sees_other_agents_units_criteria_task_and_reference():
    _, model = run(by_agent_script(FOUR_AGENTS, FOUR_LABELS))
    requests = model.requests("meta_label")
    assert len(requests) == 4
    descriptions = list(FOUR_LABELS)
    for request in requests:
        text = user_text(request)
        labelled = unit_description(request)
        listed, to_label = text.split("The unit to label")
        assert labelled in descriptions
        for other in descriptions:
            assert other in listed, (labelled, other)
            assert other not in to_label  # named by its number in the list above
        assert "Answer the question correctly." in text  # the task description
        assert "A correct answer." in text  # the reference
        for name in CRITERIA_NAMES:
            assert name in text
        assert "Facts are right." in text  # criteria come with their descriptions
    # one response's judge requests differ only in the number, so its prefix is read once
    texts = [user_text(r) for r in requests]
    shared = os.path.commonprefix(texts)
    assert shared.endswith("The unit to label: number ")
    assert all(len(t) - len(shared) < 20 for t in texts)
    assert sorted(unit_description(r) for r in requests) == sorted(descriptions)


def test_every_reviewing_step_about_a_response_starts_with_the_same_case():
    """Critiques, labels and the aggregation share their opening (scales, query, crucial
    information, tagged response), so a backend keeping prompt prefixes reads it once."""
    _, model = run(by_agent_script(FOUR_AGENTS, FOUR_LABELS))
    texts = [user_text(model.requests(step)[0])
             for step in ("critique", "meta_label", "aggregate")]
    shared = os.path.commonprefix(texts)
    assert shared.rstrip().endswith("Response:\nIt is Sydney. [S1]\nIt is big. [S2]"), shared[-200:]
    assert "A correct answer." in shared and "Facts are right." in shared


def test_label_and_severity_levels_are_defined_in_the_prompts():
    _, model = run(by_agent_script(FOUR_AGENTS, FOUR_LABELS))
    judge = user_text(model.requests("meta_label")[0])
    for label in ("L0", "L1", "L2", "L3", "L4", "L5", "L6"):
        line = re.search(rf"^- {label} [^\n]+", judge, re.MULTILINE)
        assert line and len(line.group(0)) > 40, label  # a definition, not one word
    for step in ("critique", "meta_label", "aggregate"):
        text = user_text(model.requests(step)[0])
        for severity in ("Negligible", "Minor", "Moderate", "Severe"):
            line = re.search(rf"^- {severity}: [^\n]+", text, re.MULTILINE)
            assert line and len(line.group(0)) > 40, (step, severity)


# -- bug 8: the aggregator sees criteria and reference; the anchor; repairs ------------------


def test_aggregator_sees_criteria_and_reference_and_anchors_on_it():
    _, model = run(by_agent_script(FOUR_AGENTS, FOUR_LABELS))
    (request,) = model.requests("aggregate")
    text = user_text(request)
    assert "A correct answer." in text and "Answer the question correctly." in text
    assert all(name in text for name in CRITERIA_NAMES) and "Sums are right." in text
    assert "The reference response scores about 8" in text


def test_aggregator_anchor_without_a_reference_is_the_criteria():
    math = {**ROW, "task_type": "math", "query": "2+2?", "response": "It is 5."}
    _, model = run(default_script, rows=[math])
    text = user_text(model.requests("aggregate")[0])
    assert "Reference response" not in text
    assert "fully meets every criterion scores about 8" in text


def test_unit_with_only_a_wrong_suggestion_is_repaired_not_dropped():
    units = {0: [unit(["S1"], "Accuracy", "Sydney is not the capital.", "Severe")]}
    labels = {"Sydney is not the capital.": "L5"}

    def aggregator(request):
        if request.step != "aggregate":
            return None
        return {
            "repaired": {
                "1": {
                    "criterion": "Accuracy", "severity": "Severe",
                    "description": "Sydney is not the capital.",
                    "suggestion": "Say that the capital is Canberra.",
                }
            },
            "summaries": [{"criterion": "Correctness", "summary": "Wrong capital."}],
            "score": 2,
        }

    out, model = run(by_agent_script(units, labels, extra=aggregator))
    (row,) = out.rows
    assert [u["suggestion"] for u in row["units"]] == ["Say that the capital is Canberra."]
    final = out.steps["final_critiques"][0]
    assert final["dropped_unit_ids"] == [] and len(final["repaired_unit_ids"]) == 1
    assert "judge: L5" in user_text(model.requests("aggregate")[0])


def test_the_aggregation_budget_grows_with_the_units_to_repair():
    """Four units to repair cannot be written in a budget sized for summaries and a score:
    the request gets room for each repair at its shortest, and the text limits fit it."""
    from datagen.engine.structured import parse_and_validate

    units = {a: [unit([f"S{1 + a % 2}"], "Accuracy", f"Flaw {a}.", "Severe")] for a in range(4)}
    labels = {f"Flaw {a}.": "L3" for a in range(4)}
    _, model = run(by_agent_script(units, labels), max_tokens={"aggregate": 64})
    (request,) = model.requests("aggregate")
    assert request.max_tokens >= 64 + 4 * 40
    shortest = {
        "repaired": {str(n): {"criterion": "Accuracy", "severity": "Minor",
                              "description": "x" * 16, "suggestion": "y" * 16}
                     for n in range(1, 5)},
        "summaries": [{"criterion": "Correctness", "summary": "z" * 16}],
        "score": 5,
    }
    _, problem = parse_and_validate(json.dumps(shortest), request.json_schema)
    assert problem is None
    (alone,) = run(by_agent_script({0: units[0]}, {"Flaw 0.": "L0"}),
                   max_tokens={"aggregate": 300})[1].requests("aggregate")
    assert alone.max_tokens == 300  # nothing to repair: the option's budget as given


# -- bug 6: duplicates are the same flaw, not the same tag -----------------------------------


def test_units_on_one_sentence_under_different_criteria_stay_apart():
    units = {
        0: [unit(["S1"], "Accuracy", "Sydney is not the capital.", "Severe")],
        1: [unit(["S1"], "Accuracy", "The capital is Canberra.", "Moderate")],
        2: [unit(["S1"], "Wording", "The sentence is curt.", "Minor")],
    }
    labels = {d: "L0" for us in units.values() for d in [us[0]["description"]]}
    out, _ = run(by_agent_script(units, labels))
    final = [(u["tags"], u["criterion"], len(u["sources"])) for u in out.rows[0]["units"]]
    assert final == [(["S1"], "Accuracy", 2), (["S1"], "Wording", 1)]


# -- bug 3: the SFT conversation carries the crucial information ----------------------------


def test_sft_conversation_holds_the_crucial_information_then_the_critique():
    out, _ = run(by_agent_script(FOUR_AGENTS, FOUR_LABELS))
    (row,) = out.rows
    messages = row["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    ask, crucial, follow_up, critique = (m["content"] for m in messages)
    assert "Capital of Australia?" in ask and "It is Sydney. [S1]" in ask
    assert "Answer the question correctly." in crucial and "A correct answer." in crucial
    for criterion in row["criteria"]:
        assert criterion["name"] in crucial and criterion["description"] in crucial
        assert criterion["primary"] in crucial
    assert "Severe:" in follow_up and "about 8" in follow_up
    assert critique == row["critique"] and critique.endswith("Score: 4/10")
    cited = re.findall(r"\] (\w+) \((?:Negligible|Minor|Moderate|Severe)\)", critique)
    assert cited and all(name in crucial for name in cited)
    summarised = re.findall(r"^- (\w+): ", critique.split("Summary:")[1], re.MULTILINE)
    assert summarised and all(name in crucial for name in summarised)


def test_single_turn_conversation_puts_both_in_one_answer():
    out, _ = run(by_agent_script(FOUR_AGENTS, FOUR_LABELS), sft_turns="single_turn")
    user, answer = out.rows[0]["messages"]
    assert "First write the crucial information" in user["content"]
    assert "Now critique" in user["content"]
    assert answer["content"].startswith("Task description:")
    assert answer["content"].endswith(out.rows[0]["critique"])


# -- bugs 1, 2, 7 and item 9: revisions and preference rows ---------------------------------

PREF_UNITS = {
    0: [unit(["S1"], "Accuracy", "Sydney is not the capital.", "Severe")],
    1: [unit(["S2"], "Wording", "Big is wrong.", "Minor")],
}
PREF_LABELS = {"Sydney is not the capital.": "L0", "Big is wrong.": "L1"}


def revision_scores(request):
    if request.step == "revision":
        good = "Sydney is not the capital." in user_text(request)
        return {"revised_response": "Canberra." if good else "Sydney, a big city."}
    if request.step == "score":
        return {"score": 9 if "Canberra" in user_text(request) else 2}
    return None


def test_every_reviser_and_sample_is_a_distinct_call():
    script = by_agent_script(PREF_UNITS, PREF_LABELS, extra=revision_scores)
    out, model = run(script, generator=MultiCritiquePref, revision_samples=3)
    requests = model.requests("revision")
    for critique in ("Sydney is not the capital.", "Big is wrong."):
        mine = [r for r in requests if critique in user_text(r)]
        assert len(mine) == 12  # 4 revisers x 3 samples
        assert len({(r.seed, r.sample_index) for r in mine}) == 12
    assert len(requests) == 2 * 4 * 3  # two critiques
    draws = {(r["agent"], r["reviser"], r["sample"]) for r in out.steps["revisions"]}
    assert len(draws) == 24


def test_revision_sampling_is_the_papers_unless_overridden():
    script = by_agent_script(PREF_UNITS, PREF_LABELS, extra=revision_scores)
    _, model = run(script, generator=MultiCritiquePref, revision_samples=1)
    request = model.requests("revision")[0]
    assert (request.temperature, request.top_p, request.top_k) == (1.0, 0.95, 50)
    assert model.requests("critique")[0].top_k is None  # other steps: the backend's default
    _, model = run(
        script, generator=MultiCritiquePref, revision_samples=1,
        temperatures={"revision": 0.6}, top_p={"revision": 0.8}, top_k={"revision": 20},
    )
    request = model.requests("revision")[0]
    assert (request.temperature, request.top_p, request.top_k) == (0.6, 0.8, 20)


def test_revisers_get_the_tagged_response_and_the_complete_critique():
    script = by_agent_script(PREF_UNITS, PREF_LABELS, extra=revision_scores)
    _, model = run(script, generator=MultiCritiquePref, revision_samples=1)
    for request in model.requests("revision"):
        text = user_text(request)
        assert "It is Sydney. [S1]" in text and "It is big. [S2]" in text
        assert "Summary:" in text and "Score: 5/10" in text


def test_preference_pair_holds_complete_critiques_in_the_sft_format():
    script = by_agent_script(PREF_UNITS, PREF_LABELS, extra=revision_scores)
    out, _ = run(script, generator=MultiCritiquePref, revision_samples=1)
    (row,) = out.rows
    sft, _ = run(by_agent_script(PREF_UNITS, PREF_LABELS))
    sft_messages = sft.rows[0]["messages"]
    assert row["prompt"] == sft_messages[:-1]
    assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]
    for side, description in (("chosen", "Sydney is not"), ("rejected", "Big is wrong")):
        (turn,) = row[side]
        assert turn["role"] == "assistant" and description in turn["content"]
        assert turn["content"].startswith("Flaws:\n[S")
        assert "\n\nSummary:\n- Correctness: " in turn["content"]
        assert turn["content"].endswith("Score: 5/10")
    assert RowValidator.for_schema("critique-pref").problem(row) is None
    for step, schema in MultiCritiquePref.step_schemas.items():
        for record in out.steps[step]:
            assert RowValidator.for_schema(schema).problem(record) is None, step


def test_an_empty_critique_wins_only_when_no_flaw_is_confirmed():
    def revisions(request):  # keeping the response as it is scores best here
        if request.step == "revision" and "No flaws found." in user_text(request):
            return {"revised_response": "Canberra."}
        return revision_scores(request)

    false_alarm = {1: [unit(["S2"], "Wording", "Big is wrong.", "Minor")]}
    script = by_agent_script(false_alarm, {"Big is wrong.": "L1"}, extra=revisions)
    out, _ = run(script, generator=MultiCritiquePref, revision_samples=1, agents=2)
    pairs = out.steps["preference_pairs"]
    assert [(p["chosen_agent"], p["rejected_agent"]) for p in pairs] == [(0, 1)]
    assert "No flaws found." in out.rows[0]["chosen"][0]["content"]

    confirmed = {**false_alarm, 2: [unit(["S1"], "Accuracy", "Sydney is wrong.", "Severe")]}
    labels = {"Big is wrong.": "L1", "Sydney is wrong.": "L3"}  # a real flaw, misrated
    script = by_agent_script(confirmed, labels, extra=revision_scores)
    out, model = run(script, generator=MultiCritiquePref, revision_samples=1, agents=3)
    pairs = out.steps["preference_pairs"]
    assert [(p["chosen_agent"], p["rejected_agent"], p["kept"]) for p in pairs] == [
        (0, 1, False)
    ]
    assert "finds no flaw" in pairs[0]["reason"] and out.rows == []
    assert model.requests("revision") == []


def test_at_most_the_papers_pairs_per_input_largest_gap_first():
    units = {
        0: [],
        1: [unit(["S2"], "Wording", "w1", "Minor")],
        2: [unit(["S2"], "Wording", "w2", "Minor"), unit(["S1"], "Accuracy", "w3", "Minor")],
    }
    labels = {"w1": "L1", "w2": "L1", "w3": "L1"}
    script = by_agent_script(units, labels, extra=revision_scores)
    out, _ = run(script, generator=MultiCritiquePref, revision_samples=1, agents=3)
    pairs = out.steps["preference_pairs"]
    assert [(p["chosen_agent"], p["rejected_agent"], p["severity_gap"]) for p in pairs] == [
        (0, 2, 10)
    ]
    out, _ = run(
        script, generator=MultiCritiquePref, revision_samples=1, agents=3, max_pairs_per_input=3
    )
    assert len(out.steps["preference_pairs"]) == 3


# -- item 4: output budgets at the paper's scale; the embedded recipe lowers them ------------


def test_default_budgets_never_cap_descriptions_at_a_few_dozen_characters():
    options = MultiCritique.parse_options({})
    criteria = schemas.criteria_schema(5, 3, options.max_tokens.criteria)
    fine = criteria["properties"]["primary"]["items"]["properties"]["fine_grained"]
    assert fine["items"]["properties"]["description"]["maxLength"] >= 200
    tags = [f"S{i}" for i in range(1, 30)]
    critique = schemas.critique_schema(
        tags, ["A"] * 15, ["P1", "P2", "P3", "P4", "P5"], options.max_units_per_agent,
        options.score_range, options.max_tokens.critique,
    )
    unit_props = critique["properties"]["units"]["items"]["properties"]
    summary = critique["properties"]["summaries"]["items"]["properties"]["summary"]
    for text in (unit_props["description"], unit_props["suggestion"], summary):
        assert text["maxLength"] >= 300
    aggregate = schemas.aggregate_schema(
        ["P1", "P2", "P3", "P4", "P5"], 6, ["A"], options.score_range,
        options.max_tokens.aggregate,
    )
    assert aggregate["properties"]["summaries"]["items"]["properties"]["summary"][
        "maxLength"
    ] >= 300
    assert options.max_tokens.reference >= 1024 and options.max_tokens.revision >= 1024
    assert options.max_units_per_agent >= 10 and options.max_pairs_per_input == 1


def test_the_embedded_recipes_lower_budgets_each_with_its_reason():
    recipes = tomllib.loads(RECIPES.read_text())
    defaults = MultiCritique.parse_options({}).max_tokens
    for name in ("critique-sft", "critique-pref"):
        assert recipes[name]["models"] == "embedded"
        lowered = recipes[name]["options"]["max_tokens"]
        assert lowered and all(v < getattr(defaults, k) for k, v in lowered.items())
        section = RECIPES.read_text().split(f"[{name}.options.max_tokens]")[1].split("\n[")[0]
        for key in lowered:
            line = next(x for x in section.splitlines() if x.startswith(f"{key} ="))
            assert "#" in line and len(line.split("#", 1)[1].strip()) > 15, line


def test_agents_sharing_a_model_differ_only_in_the_role_that_closes_their_prompt():
    _, model = run(by_agent_script(FOUR_AGENTS, FOUR_LABELS))
    critiques = model.requests("critique")
    assert len(critiques) == 4
    texts = [user_text(r) for r in critiques]
    shared = os.path.commonprefix(texts)
    assert shared.rsplit("\n", 1)[-1].startswith("Review it in this role: ")
    assert len({t[len(shared):] for t in texts}) == 4  # four roles, nothing else differs
    assert all(m.role == "user" for r in critiques for m in r.messages)
