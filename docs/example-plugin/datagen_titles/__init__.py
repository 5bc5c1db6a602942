"""An example method plugin: a title for every text, titles grouped by meaning, a label per group.

Two model roles (``writer`` and ``embedder``), a batch stage and a whole-dataset stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import Field

import datagen
from datagen.engine.embeddings import cosine
from datagen.generator import (
    BatchOutput,
    Generator,
    GeneratorContext,
    GeneratorOptions,
    Stage,
    stable_id,
)
from datagen.llm import ChatRequest
from datagen.roles import Role
from datagen.shapes import strict_object, text
from datagen.steps import Ask, StepKit

TITLE = strict_object({"title": text(60)})
LABEL = strict_object({"label": text(60)})


class TitlesOptions(GeneratorOptions):
    similarity: float = Field(0.9, gt=0.0, le=1.0, description="cosine that joins a group")
    max_tokens: int = Field(40, ge=8)


class Titles(Generator):
    """Per batch, the writer titles each text; then, over all titles at once, the embedder's
    vectors group them and the writer labels each group."""

    name: ClassVar[str] = "titles"
    version: ClassVar[str] = "0.1.0"
    Options = TitlesOptions
    output_schema: ClassVar[str] = "titles"
    step_schemas: ClassVar[dict[str, Any]] = {"titles": "titles-title", "groups": "titles-group"}
    input_columns: ClassVar[tuple[str, ...]] = ("text",)
    roles: ClassVar[tuple[Role, ...]] = (
        Role("writer", "writes a title per text and a label per group"),
        Role("embedder", "embeds titles to group them"),
    )
    batch_size: ClassVar[int] = 4

    options: TitlesOptions

    def stages(self) -> list[Stage]:
        return [Stage("title", self.title), Stage("group", self.group, over="titles", whole=True)]

    def request(self, step: str, prompt: str, schema: dict[str, Any]) -> ChatRequest:
        return ChatRequest.chat(prompt, step=step, json_schema=schema,
                                max_tokens=self.options.max_tokens, seed=self.options.seed)

    def title(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        texts = batch["text"].to_list()
        prompt = "Give this text a title of six words or fewer.\n\n{}"
        asks = [Ask("writer", self.request("title", prompt.format(t), TITLE), stable_id(t))
                for t in texts]
        kit.record("titles", [
            {"id": a.ask.input_id, "input_id": a.ask.input_id, "text": t, "title": a.data["title"]}
            for t, a in zip(texts, kit.structured(asks), strict=True)
            if a is not None
        ])
        return kit.out

    def group(self, titles: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        records = titles.to_dicts()
        vectors = ctx.model("embedder").embed([r["title"] for r in records])
        groups = [[records[i] for i in members]
                  for members in greedy_groups(vectors, self.options.similarity, cosine)]
        kit.record("groups", [
            {"id": r["id"], "input_id": r["input_id"], "group": number}
            for number, members in enumerate(groups) for r in members
        ])
        prompt = "Name the common theme of these titles in a few words.\n\n{}"
        asks = [Ask("writer", self.request("label", prompt.format(_lines(members)), LABEL),
                    f"group-{number}")
                for number, members in enumerate(groups)]
        for members, answer in zip(groups, kit.structured(asks), strict=True):
            if answer is not None:
                titles_in = [r["title"] for r in members]
                kit.out.rows.append({"id": stable_id("group", *titles_in),
                                     "label": answer.data["label"], "titles": titles_in})
        return kit.out


def _lines(members: list[dict[str, Any]]) -> str:
    return "\n".join(f"- {r['title']}" for r in members)


def greedy_groups(
    vectors: Sequence[Sequence[float]],
    threshold: float,
    similarity: Callable[[Sequence[float], Sequence[float]], float],
) -> list[list[int]]:
    """Each vector joins the first group whose first member is at least ``threshold`` close."""
    groups: list[list[int]] = []
    for index, vector in enumerate(vectors):
        home = next((g for g in groups if similarity(vectors[g[0]], vector) >= threshold), None)
        if home is None:
            groups.append([index])
        else:
            home.append(index)
    return groups


@datagen.hookimpl
def datagen_register_generators(register: Callable[[type[Generator]], None]) -> None:
    register(Titles)


@datagen.hookimpl
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    register(Path(__file__).parent / "catalog")
