"""`datagen backends` and `datagen cache stats|clear`, and the responses generator's wiring."""

from __future__ import annotations

import json
import tomllib
from importlib import resources

import click
import polars as pl
from click.testing import CliRunner
from engine_helpers import ScriptedBackend

from datagen.commands.engine import COMMANDS
from datagen.engine import Engine
from datagen.generator import GeneratorContext
from datagen.llm import ChatRequest
from datagen_plugins.responses import ResponsesGenerator


def cli() -> click.Group:
    return click.Group("datagen", commands={command.name: command for command in COMMANDS})


def fill_cache(home, n=3):
    with Engine(["scripted"], home=home, backend_classes={"scripted": ScriptedBackend}) as engine:
        engine.models[0].complete([ChatRequest.chat(f"q{i}") for i in range(n)])


def test_backends_lists_every_kind_with_an_example():
    result = CliRunner().invoke(cli(), ["backends"])
    assert result.exit_code == 0, result.output
    for kind in ("embedded", "gguf", "openai", "vllm"):
        assert f"\n{kind}  (engine)" in result.output
    assert "openai:Qwen/Qwen2.5-0.5B-Instruct@http://127.0.0.1:8000/v1" in result.output
    rows = json.loads(CliRunner().invoke(cli(), ["backends", "--json"]).output)
    assert {"embedded", "gguf", "openai", "vllm"} <= {row["kind"] for row in rows}


def test_cache_stats_and_clear(engine_home):
    fill_cache(engine_home)
    result = CliRunner().invoke(cli(), ["cache", "stats", "--json"])
    stats = json.loads(result.output)
    assert stats["calls"] == 3 and stats["models"][0]["identity"] == "scripted-0"
    assert "3 calls" in CliRunner().invoke(cli(), ["cache", "stats"]).output
    refused = CliRunner().invoke(cli(), ["cache", "clear"], input="n\n")
    assert refused.exit_code != 0
    result = CliRunner().invoke(cli(), ["cache", "clear", "--yes"])
    assert result.exit_code == 0 and "removed 3 cached calls" in result.output
    assert json.loads(CliRunner().invoke(cli(), ["cache", "stats", "--json"]).output)["calls"] == 0


def test_responses_generator_rows_and_failures(engine_home, monkeypatch):
    monkeypatch.setattr(ScriptedBackend, "reply", staticmethod(lambda call: "reply"))
    batch = pl.DataFrame({"text": ["a", "b"]})
    options = ResponsesGenerator.parse_options({"prompt_column": "text", "n": 3, "seed": 5})
    with Engine(["scripted"], home=engine_home,
                backend_classes={"scripted": ScriptedBackend}) as engine:
        ctx = GeneratorContext(models={"responder": engine.models})
        output = ResponsesGenerator(options).generate(batch, ctx)
    assert len(output.rows) == 6 and len({r["id"] for r in output.rows}) == 6
    assert {c.request.sample_index for c in ScriptedBackend.calls} == {0, 1, 2}
    assert len({c.seed for c in ScriptedBackend.calls}) == 3  # samples of a prompt differ


def test_responses_recipe_and_schema_are_shipped():
    catalogs = resources.files("datagen.catalogs")
    recipe = tomllib.loads(catalogs.joinpath("responses.toml").read_text())["responses"]
    assert recipe["generator"] == "responses"
    prompts = catalogs.joinpath(recipe["input"]).read_text().splitlines()
    assert len(prompts) >= 10 and all(json.loads(line)["prompt"] for line in prompts)
    ResponsesGenerator.parse_options(recipe["options"])
    schema = json.loads(resources.files("datagen.schemas").joinpath(
        "responses.schema.json").read_text())
    assert set(schema["required"]) >= {"id", "prompt", "response", "sample_index"}
