"""The method kit's orchestration: steps, failure rows, schema-checked step tables, stages,
and the executor that overlaps batches. A scripted model stands in for real ones here; the
kit end to end on the embedded model is in test_example_plugin.py."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import polars as pl
import pytest

from datagen.errors import PluginError
from datagen.executor import ExecutorSettings, LocalExecutor
from datagen.generator import BatchOutput, Generator, GeneratorContext, Stage
from datagen.llm import ChatRequest
from datagen.roles import Role
from datagen.shapes import choice, strict_object, text
from datagen.steps import Ask, CheckFailed, StepKit, check_in_range
from datagen.testing import ScriptedModel, run_generator

WORD = strict_object({"word": text(20)})
WORD_RECORD = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "input_id": {"type": "string"},
                   "word": {"type": "string", "maxLength": 5}},
    "required": ["id", "input_id", "word"],
}
ROW = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "words": {"type": "integer"}},
    "required": ["id", "words"],
}


def ask(word: str, input_id: str = "i", role: str = "writer") -> Ask:
    request = ChatRequest.chat(word, step="say", json_schema=WORD)
    return Ask(role, request, input_id)


def say_word(request: ChatRequest) -> Any:
    prompt = request.messages[-1].content
    if prompt == "broken":
        return "{not json"
    if prompt == "down":
        return None
    return {"word": prompt.upper()}


# -- the step kit --------------------------------------------------------------------------


def test_structured_answers_parse_and_bad_ones_become_failure_rows_with_raw_text():
    model = ScriptedModel(say_word, spec="m")
    kit = StepKit(GeneratorContext(models={"writer": [model]}))

    def check(a: Ask, data: Any) -> Any:
        if data["word"] == "BAD":
            raise CheckFailed("the word is bad")
        return data

    answers = kit.structured(
        [ask("ok", "a"), ask("broken", "b"), ask("down", "c"), ask("bad", "d")], check
    )
    assert answers[0] is not None and answers[0].data == {"word": "OK"}
    assert answers[1:] == [None, None, None]
    failures = {f.input_id: f for f in kit.out.failures}
    assert failures["b"].reason.startswith("the answer is not valid JSON")
    assert failures["b"].raw_output == "{not json"
    assert failures["c"].reason == "the scripted call failed"
    assert failures["d"].reason == "the word is bad"
    assert failures["d"].detail == {"role": "writer", "model": "m", "finish_reason": "stop"}


def test_each_distinct_model_gets_one_call_and_list_roles_cycle():
    models = [ScriptedModel(say_word, spec=f"m{i}") for i in range(2)]
    judge = ScriptedModel(say_word, spec="j")
    kit = StepKit(GeneratorContext(models={"agents": models, "judge": [judge]}))
    asks = [Ask("agents", ask(w).request, w, index=i) for i, w in enumerate("abc")]
    asks.append(Ask("judge", ask("z").request, "z"))
    assert [a.data["word"] for a in kit.structured(asks) if a] == ["A", "B", "C", "Z"]
    assert [len(m.calls) for m in (*models, judge)] == [1, 1, 1]
    assert [r.messages[-1].content for r in models[0].requests()] == ["a", "c"]
    assert kit.spec("agents", 3) == "m1"


def test_a_role_the_generator_did_not_declare_is_a_plugin_error():
    kit = StepKit(GeneratorContext(models={"writer": [ScriptedModel(say_word)]}))
    with pytest.raises(PluginError, match="role 'judge', which it did not declare"):
        kit.structured([ask("x", role="judge")])


def test_range_checks_reject_bools_and_out_of_range_values():
    assert check_in_range(3, range(1, 6)) == 3
    for bad in (True, 0, 6, "3", None):
        with pytest.raises(CheckFailed, match="outside 1..5"):
            check_in_range(bad, range(1, 6))


# -- stages and step tables -------------------------------------------------------------------


class Words(Generator):
    """Per batch: one word per text (a step table). Whole: count the words kept."""

    name: ClassVar[str] = "words"
    output_schema: ClassVar[Any] = ROW
    step_schemas: ClassVar[dict[str, Any]] = {"words": WORD_RECORD}
    roles: ClassVar[tuple[Role, ...]] = (Role("writer"),)
    batch_size: ClassVar[int] = 2

    def stages(self) -> list[Stage]:
        return [Stage("say", self.say), Stage("count", self.count, over="words", whole=True)]

    def say(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        texts = batch["text"].to_list()
        answers = kit.structured([ask(t, t) for t in texts])
        kit.record("words", [{"id": t, "input_id": t, "word": a.data["word"]}
                             for t, a in zip(texts, answers, strict=True) if a])
        return kit.out

    def count(self, words: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        return BatchOutput(rows=[{"id": "total", "words": words.height}])


def build(generator: Generator, texts: list[str], model: ScriptedModel, overlap: int = 2):
    return run_generator(generator, [{"text": t} for t in texts], model, overlap=overlap)


def test_step_records_that_break_their_schema_become_failure_rows_not_drops():
    sink = build(Words(Words.parse_options({})), ["ab", "toolong", "cd"],
                    ScriptedModel(say_word))
    assert [r["word"] for r in sink.steps["words"]] == ["AB", "CD"]
    (failure,) = sink.failures
    assert failure.step == "words" and failure.input_id == "toolong"
    assert failure.reason.startswith("step record does not match its schema: word:")
    assert '"TOOLONG"' in failure.raw_output
    assert sink.rows == [{"id": "total", "words": 2}]


def test_a_whole_dataset_stage_sees_every_batch_of_the_earlier_stage():
    texts = [f"w{i}" for i in range(7)]
    sink = build(Words(Words.parse_options({})), texts, ScriptedModel(say_word), overlap=3)
    assert sink.rows == [{"id": "total", "words": 7}]
    assert [r["input_id"] for r in sink.steps["words"]] == texts  # batch order kept


def test_an_undeclared_step_is_a_plugin_error():
    class Sloppy(Words):
        def say(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
            return BatchOutput(steps={"wordz": [{"id": "x"}]})

    with pytest.raises(PluginError, match="wrote step 'wordz', which is not in its step_schemas"):
        build(Sloppy(Sloppy.parse_options({})), ["a"], ScriptedModel(say_word))


def test_a_stage_that_reads_an_undeclared_table_is_refused_before_running():
    class Confused(Words):
        def stages(self) -> list[Stage]:
            return [Stage("count", self.count, over="nothing", whole=True)]

    model = ScriptedModel(say_word)
    with pytest.raises(PluginError, match="reads 'nothing'"):
        build(Confused(Confused.parse_options({})), ["a"], model)
    assert model.calls == []


# -- the executor ----------------------------------------------------------------------------


def test_the_local_executor_runs_batches_side_by_side_and_yields_them_in_order():
    barrier = threading.Barrier(3, timeout=10)

    def run(batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        index = batch["i"][0]
        if index < 3:
            barrier.wait()  # only passes if three batches are in flight at once
        time.sleep(0.02 * (5 - index))  # later batches finish first
        return BatchOutput(rows=[{"id": str(index)}])

    executor = LocalExecutor(ExecutorSettings(overlap=3))
    batches = [pl.DataFrame({"i": [i]}) for i in range(5)]
    outputs = list(executor.map_batches(Stage("s", run), batches, GeneratorContext(models={})))
    executor.close()
    assert [o.rows[0]["id"] for o in outputs] == ["0", "1", "2", "3", "4"]


def test_an_error_in_one_batch_stops_the_stage():
    def run(batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        if batch["i"][0] == 1:
            raise RuntimeError("batch 1 broke")
        return BatchOutput()

    executor = LocalExecutor(ExecutorSettings(overlap=2))
    with pytest.raises(RuntimeError, match="batch 1 broke"):
        list(executor.map_batches(Stage("s", run), [pl.DataFrame({"i": [i]}) for i in range(4)],
                                  GeneratorContext(models={})))
    executor.close()


def test_choice_schema_types_follow_the_values():
    assert choice([1, 2]) == {"type": "integer", "enum": [1, 2]}
    assert choice(["A", "B"]) == {"type": "string", "enum": ["A", "B"]}


def test_rows_of_a_schema_without_typed_properties_keep_every_column():
    class Untyped(Words):
        output_schema: ClassVar[Any] = {"type": "object"}

        def count(self, words: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
            return BatchOutput(rows=[{"id": "total", "words": words.height}])

    sink = build(Untyped(Untyped.parse_options({})), ["ab", "cd"], ScriptedModel(say_word))
    assert sink.rows == [{"id": "total", "words": 2}]
