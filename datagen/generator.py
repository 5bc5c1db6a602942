"""The generator contract every method plugin implements.

A generator is a batch transform: ``generate(batch, ctx) -> BatchOutput``. It keeps no
global state; everything it needs arrives in its options, the input batch and the context.
That is what lets the host run it in-process today and as a batch transform on a
distributed engine's workers later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from datagen.errors import InvalidOptions
from datagen.llm import Model

if TYPE_CHECKING:
    import polars as pl


class GeneratorOptions(BaseModel):
    """Base for a generator's options: unknown keys are rejected."""

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
    """Everything a generator may use besides its options and the input batch."""

    models: Sequence[Model]
    seed: int = 0

    @property
    def model(self) -> Model:
        return self.models[0]


class Generator:
    """Base class for generators. Subclasses set the class attributes and ``generate``."""

    name: ClassVar[str]
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = ""
    Options: ClassVar[type[GeneratorOptions]] = GeneratorOptions
    output_schema: ClassVar[str]  # a schema name known to the host (see datagen.schemas)
    step_schemas: ClassVar[dict[str, str]] = {}  # step name -> schema name (optional)
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

    def models_needed(self) -> int:
        """How many model specs this generator uses (agents, judges, ...)."""
        return 1

    def default_models(self) -> list[str]:
        """Model specs used when neither the recipe nor the user names any."""
        return ["embedded"] * self.models_needed()

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
