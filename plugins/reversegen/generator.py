"""The ReverseGen generators: ``reversegen`` (failure-queries) and ``reversegen-sft``.

``reversegen`` runs ``rounds`` rounds of five stages each: explore (the proposer writes
instructions under 3-shot prompts), dedup (invalid and near-duplicate ones are marked),
label (the target answers, the oracle labels), pairs (failure vs pass under one prompt) and
close (DPO the proposer, record the round). Round n+1 samples from round n's trained
proposer, served from its folder (``serve_trained``, ``vllm:{path}`` by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from datagen.generator import BatchOutput, Generator, GeneratorContext, Stage
from datagen.roles import Role

from . import schemas
from .explore import dedup, explore
from .label import label
from .options import FailureQueriesOptions, FailureSFTOptions
from .proposers import (
    Proposer,
    folder_of,
    open_model,
    record_model,
    require_folder,
    run_training,
)
from .rounds import close_round, pairs
from .sft import correct
from .warmup import warmup

CITATION = """@inproceedings{jiang2025reversegen,
  title     = {Forewarned is Forearmed: Leveraging {LLM}s for Data Synthesis through
               Failure-Inducing Exploration},
  author    = {Li, Qintong and Gao, Jiahui and Wang, Sheng and Pi, Renjie and Zhao, Xueliang
               and Wu, Chuan and Jiang, Xin and Li, Zhenguo and Kong, Lingpeng},
  booktitle = {International Conference on Learning Representations},
  year      = {2025}
}"""

ROLES = (
    Role("proposer", "writes new instructions from 3-shot prompts; trained with DPO each round"),
    Role("target", "the model whose failures are sought: answers every instruction"),
    Role("oracle", "the judge oracle: says whether an answer fits the failure description"),
    Role("solver", "the reference oracle: gives reference answers to compare against"),
)


class FailureQueries(Generator):
    name: ClassVar[str] = "reversegen"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = (
        "ReverseGen: a proposer trained round by round to write instructions the target fails"
    )
    Options = FailureQueriesOptions
    output_schema: ClassVar[dict[str, Any]] = schemas.FAILURE_QUERY
    step_schemas: ClassVar[dict[str, Any]] = {
        "candidates": schemas.CANDIDATE,
        "kept": schemas.KEPT,
        "labels": schemas.LABEL,
        "pairs": schemas.PAIR,
        "rounds": schemas.ROUND,
        "warmup": schemas.WARMUP,
    }
    roles: ClassVar[tuple[Role, ...]] = ROLES
    input_columns: ClassVar[tuple[str, ...]] = ("instruction",)
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-generation",)

    options: FailureQueriesOptions

    def model_roles(self) -> tuple[Role, ...]:
        kind = self.options.oracle_kind
        needed = {"proposer", "target"}
        if kind == "judge":
            needed.add("oracle")
        if kind == "reference" and not self.options.checker:
            needed.add("solver")
        return tuple(r for r in self.roles if r.name in needed)

    def stages(self) -> list[Stage]:
        first = [Stage("warmup", partial(warmup, self), whole=True)] if self.options.warmup else []
        return first + [s for n in range(1, self.options.rounds + 1) for s in self.round_stages(n)]

    def round_stages(self, n: int) -> list[Stage]:
        warm = ("warmup",) if self.options.warmup else ()
        earlier = ("rounds", *warm) if n > 1 else warm
        return [
            Stage(f"explore_{n}", partial(explore, self, n), whole=True, reads=earlier),
            Stage(f"dedup_{n}", partial(dedup, self, n), over="candidates", whole=True),
            Stage(f"label_{n}", partial(label, self, n), over="kept", whole=True),
            Stage(f"pairs_{n}", partial(pairs, self, n), over="labels", whole=True),
            Stage(f"close_{n}", partial(close_round, self, n), over="pairs", whole=True,
                  reads=("candidates", "kept", "labels", "rounds", *warm)),
        ]

    # ------------------------------------------------------------------ proposers

    def trains_after(self, round_no: int) -> bool:
        return round_no < self.options.rounds or self.options.train_last_round

    def proposer_for(self, round_no: int, ctx: GeneratorContext,
                     warmed: bool = True) -> Proposer:
        """Round 1: the ``proposer`` role (or its warm-up); later: the last trained folder."""
        base_spec = ctx.specs.get("proposer", ("",))[0] or str(ctx.model("proposer").spec)
        base = Proposer(base_spec, folder_of(base_spec, self.options.proposer_folder))
        if self.options.warmup and warmed:
            folder = ctx.table("warmup")["trained_proposer"][0]
            base = Proposer(self.options.serve_trained.format(path=folder), folder)
        if round_no == 1:
            return base
        rounds = ctx.table("rounds").filter(pl.col("round") < round_no).sort("round")
        trained = [t for t in rounds["trained_proposer"].to_list() if t]
        if not trained:
            return base
        return Proposer(self.options.serve_trained.format(path=trained[-1]), trained[-1])

    @contextmanager
    def round_proposer(self, round_no: int, ctx: GeneratorContext) -> Iterator[Proposer]:
        """The round's proposer with a model to call (opened for the stage if it is new)."""
        proposer = self.proposer_for(round_no, ctx)
        if round_no == 1 and self.trains_after(1):
            require_folder(proposer)  # fail before sampling, not after a round
        same = proposer.spec in ctx.specs.get("proposer", ())
        opener = (nullcontext(ctx.model("proposer")) if same
                  else self.open_model(proposer.spec, ctx.home))
        with opener as model:
            yield Proposer(proposer.spec, proposer.folder, model)

    def open_model(self, spec: str, home: Path | None = None) -> Any:
        """A context manager serving ``spec`` (tests replace it with a scripted model)."""
        return open_model(spec, home)

    def train_proposer(self, table: Any, parent: str, output: Path,
                       settings: dict[str, Any], method: str = "dpo") -> dict[str, Any]:
        """Train the proposer with the trainer plugin (tests replace it with a recorder)."""
        return run_training(method, table, parent, output, settings)

    def record_proposer(self, folder: Path, parent: str, round_no: int,
                        metrics: dict[str, Any], settings: dict[str, Any],
                        method: str = "dpo", home: Path | None = None) -> None:
        record_model(method, folder, parent, round_no, metrics, settings,
                     {"dataset": "failure-queries", "generator": self.name}, home)


class FailureSFT(Generator):
    name: ClassVar[str] = "reversegen-sft"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = (
        "Failure-inducing instructions paired with a teacher's corrected answers (SFT data)"
    )
    Options = FailureSFTOptions
    output_schema: ClassVar[dict[str, Any]] = schemas.FAILURE_SFT
    roles: ClassVar[tuple[Role, ...]] = (
        Role("teacher", "writes the corrected answer to each failure-inducing instruction"),
    )
    input_columns: ClassVar[tuple[str, ...]] = ("instruction",)
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-generation",)

    options: FailureSFTOptions

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        return correct(self.options, batch, ctx)
