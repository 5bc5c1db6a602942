"""C3PO orchestration with scripted models: every stage's table, row kinds, the split, the
filter's reasons, and bad input (feedback without content, unknown scope kinds, judge
answers out of range). The embedded end-to-end runs are in test_c3po_embedded.py."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from datagen.catalog import Catalog
from datagen.errors import InvalidInput, InvalidOptions
from datagen.llm import ChatRequest
from datagen.readers import import_table
from datagen.testing import MemorySink, ScriptedModel, run_generator
from datagen_plugins.c3po.evaluation import evaluate_feedback, summarize
from datagen_plugins.c3po.generator import FeedbackPrefs
from datagen_plugins.c3po.judging import FeedbackEval

SMALL = {"categories": 2, "in_scope_prompts": 4, "near_scope_prompts": 4,
         "out_of_scope_prompts": 3, "prompts_per_call": 2}


def user_text(request: ChatRequest) -> str:
    return request.messages[-1].content


class Author:
    """Writes prompts with distinct words; 'inside' prompts are in the domain. The first
    near-scope list of each category smuggles in a prompt the feedback applies to, and every
    category repeats one in-scope prompt word for word."""

    def __init__(self) -> None:
        self.numbers = itertools.count()

    def __call__(self, request: ChatRequest) -> Any:
        text = user_text(request)
        if request.step == "describe":
            return {"domain": "emails to a manager", "effect": "No emojis."}
        if request.step == "categories":
            return {"categories": ["Work email", "Chat messages", "work  email"]}
        if request.step == "prompts":
            return {"prompts": self.prompts(text, request)}
        if request.step == "scope_check":
            prompt = text.split("User request:\n")[1]
            return {"applies": "yes" if "inside" in prompt else "no"}
        if request.step == "revision":
            return "same" if "inside echo" in text else f"revised {next(self.numbers)}"
        raise AssertionError(f"unexpected step {request.step}")

    def prompts(self, text: str, request: ChatRequest) -> list[str]:
        count = request.json_schema["properties"]["prompts"]["maxItems"]
        category = text.split('category "')[1].split('"')[0]
        if "NOT" not in text:
            made = [f"inside {category} request w{next(self.numbers)} v{next(self.numbers)}"
                    for _ in range(count)]
            return ["inside echo"] + made[1:] if request.sample_index == 0 else made
        made = [f"outside {category} w{next(self.numbers)} v{next(self.numbers)}"
                for _ in range(count)]
        if request.sample_index == 0:
            made[-1] = f"inside smuggled {category} w{next(self.numbers)}"
        return made


def student(request: ChatRequest) -> Any:
    return "same" if user_text(request) == "inside echo" else f"baseline for {user_text(request)}"


def build(rows: list[dict[str, Any]], options: dict[str, Any] | None = None,
          pool: Path | None = None) -> tuple[MemorySink, ScriptedModel, ScriptedModel]:
    values = {**SMALL, **(options or {})}
    if pool is not None:
        values["pool"] = str(pool)
    generator = FeedbackPrefs(FeedbackPrefs.parse_options(values))
    author, learner = ScriptedModel(Author(), spec="author"), ScriptedModel(student, "student")
    sink = run_generator(generator, rows, {"author": author, "student": learner}, overlap=2)
    return sink, author, learner


@pytest.fixture
def pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.jsonl"
    texts = [f"general question number {n} about topic{n}" for n in range(10)]
    texts.append("inside pool prompt the feedback applies to")
    path.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts))
    return path


FEEDBACKS = [
    {"id": "emoji", "content": "Don't use emojis in emails to my boss.",
     "domain": "emails to a manager", "effect": "No emojis."},
    {"id": "bare", "content": "Be formal with my landlord."},
    {"id": "empty", "content": "   "},
]


def test_every_stage_writes_its_table_and_rows_have_the_three_kinds(pool: Path):
    sink, author, learner = build(FEEDBACKS, pool=pool)
    assert {f["id"] for f in sink.steps["feedbacks"]} == {"emoji", "bare"}
    derived = {f["id"]: f["derived"] for f in sink.steps["feedbacks"]}
    assert derived == {"emoji": False, "bare": True}
    assert len(author.requests("describe")) == 1
    assert Counter(c["feedback_id"] for c in sink.steps["categories"]) == {"emoji": 2, "bare": 2}
    kinds = Counter((r["feedback_id"], r["kind"]) for r in sink.rows)
    assert set(kinds) == {(f, k) for f in ("emoji", "bare")
                          for k in ("in_scope", "near_scope", "out_of_scope")}
    for row in sink.rows:
        assert row["prompt"][0]["role"] == "user"
        if row["kind"] == "in_scope":
            assert row["chosen"][0]["content"].startswith("revised")
            assert row["rejected"][0]["content"].startswith("baseline for")
        else:
            assert row["chosen"][0]["content"].startswith("baseline for")
            assert row["rejected"] is None


def test_baselines_come_from_the_student_and_revisions_from_the_author(pool: Path):
    sink, author, learner = build(FEEDBACKS[:1], pool=pool)
    assert {r.step for r in learner.requests()} == {"baseline"}
    assert "baseline" not in {r.step for r in author.requests()}
    assert len(learner.requests("baseline")) == len(sink.steps["scoped_prompts"])
    baseline = learner.requests("baseline")[0]
    assert [m.role for m in baseline.messages] == ["user"]  # the prompt alone


def test_filter_decisions_say_why_each_prompt_was_dropped(pool: Path):
    sink, _, _ = build(FEEDBACKS[:1], pool=pool)
    reasons = [d["reason"] for d in sink.steps["filter_decisions"] if not d["kept"]]
    assert any(r.startswith("duplicate of ") for r in reasons)  # "inside echo" per category
    assert any("applies to this near-scope prompt" in r for r in reasons)
    assert any("applies to this out-of-scope prompt" in r for r in reasons)  # the pool's
    assert any(r.startswith("over the target") for r in reasons)
    kept = [d for d in sink.steps["filter_decisions"] if d["kept"]]
    assert {d["id"] for d in kept} == {p["id"] for p in sink.steps["scoped_prompts"]}
    by_scope = Counter(p["scope"] for p in sink.steps["scoped_prompts"])
    assert by_scope == {"in_scope": 4, "near_scope": 4, "out_of_scope": 3}
    assert all("smuggled" not in p["prompt"] for p in sink.steps["scoped_prompts"])


def test_each_scope_has_a_seeded_test_split(pool: Path):
    first, _, _ = build(FEEDBACKS[:1], pool=pool)
    again, _, _ = build(FEEDBACKS[:1], pool=pool)
    splits = {p["id"]: p["split"] for p in first.steps["scoped_prompts"]}
    assert splits == {p["id"]: p["split"] for p in again.steps["scoped_prompts"]}
    tests = Counter(p["scope"] for p in first.steps["scoped_prompts"] if p["split"] == "test")
    assert tests == {"in_scope": 1, "near_scope": 1, "out_of_scope": 1}
    other, _, _ = build(FEEDBACKS[:1], {"seed": 3}, pool=pool)
    assert {p["prompt"] for p in other.steps["scoped_prompts"] if p["split"] == "test"} != {
        p["prompt"] for p in first.steps["scoped_prompts"] if p["split"] == "test"}


def test_a_revision_equal_to_its_baseline_is_a_failure_row_not_a_pair(pool: Path):
    sink, _, _ = build(FEEDBACKS[:1], {"dedupe_similarity": 1.0, "in_scope_prompts": 8},
                       pool=pool)
    same = [f for f in sink.failures if f.step == "revision"]
    assert same and all(f.reason == "the revision is identical to the baseline" for f in same)
    assert all(f.raw_output == "same" for f in same)
    assert not [r for r in sink.rows if r["prompt"][0]["content"] == "inside echo"]


def test_feedback_without_content_is_a_failure_row_naming_the_input_row(pool: Path):
    sink, _, _ = build(FEEDBACKS, pool=pool)
    failed = [f for f in sink.failures if f.step == "feedbacks"]
    assert [(f.input_id, f.reason) for f in failed] == [
        ("empty", "input row 3 (id empty): feedback has no content")]


def test_the_feedback_option_replaces_the_input_and_derives_domain_and_effect(pool: Path):
    sink, author, _ = build([{"content": "ignored"}], {"feedback": "No emojis for my boss"},
                            pool=pool)
    (feedback,) = sink.steps["feedbacks"]
    assert feedback["content"] == "No emojis for my boss"
    assert (feedback["domain"], feedback["effect"], feedback["derived"]) == (
        "emails to a manager", "No emojis.", True)
    assert "No emojis for my boss" in user_text(author.requests("describe")[0])
    assert {r["feedback"] for r in sink.rows} == {"No emojis for my boss"}


def test_only_empty_feedbacks_leave_only_failure_rows(pool: Path):
    sink, author, learner = build([{"content": ""}, {"content": None}], pool=pool)
    assert (sink.rows, sink.steps, author.calls, learner.calls) == ([], {}, [], [])
    assert [f.reason for f in sink.failures] == [
        "input row 1: feedback has no content", "input row 2: feedback has no content"]


def test_a_failed_description_drops_the_feedback_with_its_raw_answer(pool: Path):
    generator = FeedbackPrefs(FeedbackPrefs.parse_options({**SMALL, "pool": str(pool)}))
    author = ScriptedModel(lambda r: {"domain": "", "effect": "x"} if r.step == "describe"
                           else Author()(r))
    sink = run_generator(generator, [{"content": "Be brief."}],
                         {"author": author, "student": ScriptedModel(student)})
    (failure,) = sink.failures
    assert (failure.step, failure.reason) == ("describe", "the answer has an empty domain")
    assert '"domain": ""' in failure.raw_output
    assert sink.rows == []


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_feedback_option_is_refused(value: str):
    with pytest.raises(InvalidOptions, match="feedback"):
        FeedbackPrefs.parse_options({"feedback": value})


def test_the_bundled_pool_serves_out_of_scope_prompts():
    sink, _, _ = build(FEEDBACKS[:1])
    pooled = [d for d in sink.steps["filter_decisions"] if d["source"] == "pool"]
    assert len(pooled) == 4  # 3 x 1.25 oversampling, rounded up
    assert all(d["scope"] == "out_of_scope" for d in pooled)


def test_a_pool_without_a_prompt_column_is_named(tmp_path: Path):
    bad = tmp_path / "pool.jsonl"
    bad.write_text('{"text": "hello"}\n')
    with pytest.raises(InvalidInput, match=r"pool.jsonl: the pool needs a 'prompt' column"):
        build(FEEDBACKS[:1], pool=bad)


# -- evaluation -------------------------------------------------------------------------
def dataset_rows(kinds: list[str], split: str = "test") -> list[dict[str, Any]]:
    return [{
        "prompt_id": f"p{n}", "feedback_id": "emoji", "feedback": "No emojis.",
        "domain": "emails", "kind": kind, "split": split, "category": "c",
        "prompt": [{"role": "user", "content": f"prompt {n}"}],
        "chosen": [{"role": "assistant", "content": f"chosen {n}"}],
        "rejected": [{"role": "assistant", "content": f"rejected {n}"}],
    } for n, kind in enumerate(kinds)]


def judge_script(scores: dict[str, Any]):
    """A consistent judge: ``scores`` holds each prompt's score with the baseline as A; the
    swapped order gets the mirrored score (values outside 1-5 and raw text stay as they are)."""
    def answer(request: ChatRequest) -> Any:
        prompt = user_text(request).split("User request:\n")[1].split("\n")[0]
        value = scores[prompt]
        if isinstance(value, str):
            return value
        swapped = request.step == "judge_swapped" and value in range(1, 6)
        return {"score": 6 - value if swapped else value}
    return answer


def run_eval(rows: list[dict[str, Any]], scores: dict[str, Any], judge_answer: Any = None,
             **options: Any):
    generator = FeedbackEval(FeedbackEval.parse_options(options))
    model = ScriptedModel(lambda r: f"adapted answer to {user_text(r)}", spec="adapted")
    judge = ScriptedModel(judge_answer or judge_script(scores), spec="judge")
    models: dict[str, Any] = {"model": model, "judge": judge, "baseline": model}
    return run_generator(generator, rows, models), model, judge


def test_eval_compares_with_stored_baselines_and_maps_scores():
    rows = dataset_rows(["in_scope", "in_scope", "near_scope", "out_of_scope"])
    rows.append(dataset_rows(["in_scope"], split="train")[0] | {"prompt_id": "train-row"})
    sink, model, judge = run_eval(
        rows, {"prompt 0": 5, "prompt 1": 4, "prompt 2": 3, "prompt 3": 1})
    assert {r["prompt_id"] for r in sink.rows} == {"p0", "p1", "p2", "p3"}  # test split only
    by_id = {r["prompt_id"]: r for r in sink.rows}
    assert by_id["p0"]["baseline"] == "rejected 0"  # the student's in-scope answer
    assert by_id["p2"]["baseline"] == "chosen 2"  # the student's answer kept elsewhere
    assert [by_id[p]["value"] for p in ("p0", "p1", "p2", "p3")] == [1.0, 0.5, 0.0, -1.0]
    judge_prompt = user_text(judge.requests("judge")[0])
    assert "Response A:\nrejected 0" in judge_prompt
    assert "Response B:\nadapted answer to prompt 0" in judge_prompt
    swapped_prompt = user_text(judge.requests("judge_swapped")[0])
    assert "Response A:\nadapted answer to prompt 0" in swapped_prompt
    assert "Response B:\nrejected 0" in swapped_prompt
    assert by_id["p0"]["order_scores"] == [5, 5]
    overall, _ = summarize(sink.rows)
    assert overall["S_in"] == pytest.approx(0.75)
    assert overall["S_out"] == pytest.approx(0.5)
    assert overall["S_overall"] == pytest.approx(0.625)


@pytest.mark.parametrize(("both_orders", "value"), [(True, 0.0), (False, -1.0)])
def test_judging_both_orders_cancels_a_judge_that_always_picks_a(both_orders, value):
    generator_options = {"both_orders": both_orders}
    sink, _, judge = run_eval(dataset_rows(["in_scope"]), {}, **generator_options,
                              judge_answer=lambda request: {"score": 1})
    assert [r["value"] for r in sink.rows] == [value]
    assert len(judge.requests()) == (2 if both_orders else 1)


def test_in_context_puts_the_feedback_in_the_system_prompt():
    sink, model, _ = run_eval(dataset_rows(["in_scope"]), {"prompt 0": 4}, in_context=True)
    (request,) = model.requests("model_answer")
    assert request.messages[0].role == "system" and "No emojis." in request.messages[0].content
    assert sink.rows[0]["in_context"] is True


def test_a_baseline_model_answers_when_asked():
    sink, model, _ = run_eval(dataset_rows(["near_scope"]), {"prompt 0": 2},
                              baseline_from_dataset=False)
    assert len(model.requests("baseline_answer")) == 1
    assert sink.rows[0]["baseline"] == "adapted answer to prompt 0"


def test_a_judge_score_out_of_range_is_a_failure_row_with_the_raw_text():
    rows = dataset_rows(["in_scope", "near_scope", "in_scope"])
    sink, _, _ = run_eval(rows, {"prompt 0": 7, "prompt 1": 2, "prompt 2": "five, I think"})
    assert [r["prompt_id"] for r in sink.rows] == ["p1"]
    failures = {(f.input_id, f.step, f.reason, f.raw_output) for f in sink.failures}
    for step in ("judge", "judge_swapped"):
        assert ("p0", step, "judge score 7 is outside 1..5", '{"score": 7}') in failures
        assert any(f[:2] == ("p2", step) and f[3] == "five, I think"
                   and f[2].startswith("the answer is not valid JSON") for f in failures)
    assert len(failures) == 4


def test_an_unknown_scope_kind_in_an_imported_dataset_stops_the_eval(datagen_home: Path):
    rows = dataset_rows(["in_scope", "sideways"])
    with Catalog.open(datagen_home) as catalog:
        import_table(catalog, pa.Table.from_pylist(rows), "imported-prefs", {"kind": "test"})
    with pytest.raises(InvalidInput,
                       match=r"imported-prefs@1 row p1: unknown scope kind 'sideways'"):
        evaluate_feedback("imported-prefs", model="embedded", judge="embedded")


def test_a_dataset_without_the_feedback_columns_is_refused(datagen_home: Path):
    table = pl.DataFrame({"prompt": ["hi"], "chosen": ["yo"]}).to_arrow()
    with Catalog.open(datagen_home) as catalog:
        import_table(catalog, table, "plain-prefs", {"kind": "test"})
    with pytest.raises(InvalidInput, match="not a feedback-prefs dataset: no column"):
        evaluate_feedback("plain-prefs", model="embedded", judge="embedded")
