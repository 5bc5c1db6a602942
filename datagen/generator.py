"""The generator contract every method plugin implements.

A generator is a list of stages, each a transform ``run(frame, ctx) -> BatchOutput``: the
simplest has one batch stage, ``generate(batch, ctx)``. It keeps no global state;
everything it needs arrives in its options, the input and the context (models by role,
the specs behind them, earlier stages' tables). That is what lets the host run batch stages
side by side in-process, or as batch transforms on a distributed engine's workers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from datagen.errors import InvalidOptions, PluginError
from datagen.llm import Model
from datagen.roles import Role

if TYPE_CHECKING:
    import polars as pl


class GeneratorOptions(BaseModel):
    """Base for a generator's options: unknown keys are rejected.

    ``seed`` is the one seed of a build: every sampled request derives its seed from it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0


@dataclass
class Failure:
    """A row a build could not produce. Stored in the ``failures`` table."""

    step: str
    reason: str
    input_id: str = ""
    raw_output: str = ""
    attempts: int = 1
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchOutput:
    """What one call of ``generate`` produced.

    ``rows`` are the dataset's records (validated against ``output_schema`` by the host);
    ``steps`` are intermediate tables (one list of records per step name), written beside
    the version so users can query why a row says what it says.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def extend(self, other: BatchOutput) -> None:
        self.rows.extend(other.rows)
        for name, records in other.steps.items():
            self.steps.setdefault(name, []).extend(records)
        self.failures.extend(other.failures)


@dataclass
class GeneratorContext:
    """Everything a generator may use besides its options and the input.

    ``models`` maps each role to the models that play it; ``specs`` holds the model specs
    behind them, which is all a worker on another machine needs to build its own engine.
    ``tables`` holds the whole output of earlier stages that a later stage reads.
    ``dataset``, ``home`` and ``use_cache`` say what the build writes and where its catalog
    and call cache live, for stages that make models of their own (a trained proposer).
    """

    models: Mapping[str, Sequence[Model]]
    specs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    dataset: str = ""
    home: Path | None = None
    use_cache: bool = True

    def model(self, role: str, index: int = 0) -> Model:
        """The model playing ``role``; for a list role, its ``index``-th (cycled)."""
        models = self.models.get(role)
        if not models:
            raise PluginError(f"the generator asked for role {role!r}, which it did not declare")
        return models[index % len(models)]

    def count(self, role: str) -> int:
        """How many distinct models play ``role``."""
        return len(self.models.get(role, ()))

    def table(self, step: str) -> pl.DataFrame:
        """The whole step table an earlier stage wrote (declared in a stage's ``reads``)."""
        if step not in self.tables:
            known = ", ".join(sorted(self.tables)) or "none"
            raise PluginError(f"step {step!r} is not readable here; readable: {known}")
        return self.tables[step]

    def with_tables(self, tables: Mapping[str, pl.DataFrame]) -> GeneratorContext:
        return replace(self, tables=tables)


INPUT = "input"


@dataclass(frozen=True)
class Stage:
    """One stage of a generator.

    A stage runs over the build input or over the step table of an earlier stage
    (``over``), either batch by batch (the default: batches may run side by side, on
    this machine or on a distributed engine's workers) or once over everything
    (``whole=True``: clustering, filtering, ranking, splitting). ``reads`` names further
    earlier step tables the stage needs whole, through ``ctx.table(name)``.
    """

    name: str
    run: Callable[[pl.DataFrame, GeneratorContext], BatchOutput]
    over: str = INPUT
    whole: bool = False
    reads: tuple[str, ...] = ()
    batch_size: int | None = None


def check_stages(generator: str, stages: Sequence[Stage], step_schemas: Mapping[str, str]) -> None:
    """Every stage reads only tables an earlier stage declared; names are unique."""
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise PluginError(f"generator {generator!r} has two stages named {stage.name!r}")
        seen.add(stage.name)
        for table in (stage.over, *stage.reads):
            if table != INPUT and table not in step_schemas:
                raise PluginError(
                    f"stage {stage.name!r} of generator {generator!r} reads {table!r},"
                    " which is not a step in its step_schemas"
                )


def read_later(stages: Sequence[Stage]) -> set[str]:
    """The step tables some stage reads whole: the build keeps these in memory."""
    return {t for s in stages for t in (s.over, *s.reads) if t != INPUT}


class Generator:
    """Base class for generators. Subclasses set the class attributes and ``generate``."""

    name: ClassVar[str]
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = ""
    Options: ClassVar[type[GeneratorOptions]] = GeneratorOptions
    # a schema name known to the host (datagen.validation) or an inline JSON Schema
    output_schema: ClassVar[str | dict[str, Any]]
    step_schemas: ClassVar[dict[str, Any]] = {}  # step name -> schema (name or inline), enforced
    roles: ClassVar[tuple[Role, ...]] = ()  # the model roles it can use
    input_columns: ClassVar[tuple[str, ...]] = ()  # columns the input must provide
    batch_size: ClassVar[int] = 16
    citation: ClassVar[str | None] = None  # BibTeX of the method, for dataset cards
    task_categories: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: GeneratorOptions):
        self.options = options

    @classmethod
    def parse_options(cls, values: dict[str, Any]) -> GeneratorOptions:
        """Validate user options in one place; errors name the option and what is allowed."""
        try:
            return cls.Options.model_validate(values)
        except ValidationError as exc:
            raise InvalidOptions(_describe_option_error(cls.name, cls.Options, exc)) from None

    def model_roles(self) -> tuple[Role, ...]:
        """The roles this build needs models for; by default every declared role.

        Override to drop roles the options switch off (a scorer that exact match replaces).
        """
        return self.roles

    def stages(self) -> list[Stage]:
        """The stages of a build, in order; by default one batch stage, ``generate``."""
        return [Stage("generate", self.generate)]

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        raise NotImplementedError


def stable_id(*parts: Any) -> str:
    """A short deterministic id for a record, from the values that make it unique."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _describe_option_error(
    generator: str, options: type[GeneratorOptions], exc: ValidationError
) -> str:
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "?"
    allowed = ", ".join(sorted(options.model_fields))
    if first["type"] == "extra_forbidden":
        return f"unknown option {key!r} for generator {generator!r}; allowed: {allowed}"
    return f"option {key!r} for generator {generator!r}: {first['msg']}"
