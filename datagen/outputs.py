"""Checking what a stage produced and handing it to the version being written.

Rows are validated against the generator's ``output_schema`` and step records against its
``step_schemas``; a record that breaks its schema becomes a failure row that keeps the
record, never a silent drop. A step the generator did not declare is a plugin error.
Step tables a later stage reads are also kept in memory, whole, for that stage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datagen.errors import PluginError
from datagen.executor import Sink
from datagen.generator import BatchOutput, Failure, Generator
from datagen.validation import RowValidator

if TYPE_CHECKING:
    import polars as pl

ROW_STEP = "validate"  # the failure step of a dataset row that breaks the output schema


@dataclass
class Tally:
    rows: int = 0
    failures: int = 0
    steps: dict[str, int] = field(default_factory=dict)


class OutputWriter:
    """Validates each ``BatchOutput`` and writes it to ``sink``."""

    def __init__(self, generator: type[Generator], sink: Sink, keep: Iterable[str] = ()):
        self.generator = generator
        self.sink = sink
        self.rows = validator_for(generator.output_schema)
        self.step_validators = {
            step: validator_for(schema) for step, schema in generator.step_schemas.items()
        }
        self.kept: dict[str, list[dict[str, Any]]] = {step: [] for step in keep}
        self.tally = Tally()

    @staticmethod
    def row_types(generator: type[Generator]) -> Any:
        """The Arrow types of the dataset's rows, from its output schema."""
        return validator_for(generator.output_schema).arrow_schema

    def write(self, output: BatchOutput) -> None:
        rows, failures = split_valid(output.rows, self.rows, ROW_STEP)
        failures = output.failures + failures
        if rows:
            self.sink.write_rows(self.rows.to_arrow(rows))
        for step, records in output.steps.items():
            failures += self._write_step(step, records)
        if failures:
            self.sink.write_failures(failures)
        self.tally.rows += len(rows)
        self.tally.failures += len(failures)

    def _write_step(self, step: str, records: list[dict[str, Any]]) -> list[Failure]:
        validator = self.step_validators.get(step)
        if validator is None:
            declared = ", ".join(sorted(self.step_validators)) or "none"
            raise PluginError(
                f"generator {self.generator.name!r} wrote step {step!r}, which is not in its"
                f" step_schemas (declared: {declared})"
            )
        valid, failures = split_valid(records, validator, step)
        if valid:
            self.sink.write_step(step, validator.to_arrow(valid))
            self.tally.steps[step] = self.tally.steps.get(step, 0) + len(valid)
        if step in self.kept:
            self.kept[step].extend(valid)
        return failures

    def table(self, step: str) -> pl.DataFrame:
        """A kept step table, whole, typed like its stored form."""
        import polars as pl

        records = self.kept.get(step, [])
        return pl.from_arrow(self.step_validators[step].to_arrow(records))  # type: ignore[return-value]


def validator_for(schema: str | dict[str, Any]) -> RowValidator:
    """A validator for a schema given by name (from a catalog folder) or inline."""
    return RowValidator(schema) if isinstance(schema, dict) else RowValidator.for_schema(schema)


def split_valid(
    records: list[dict[str, Any]], validator: RowValidator, step: str
) -> tuple[list[dict[str, Any]], list[Failure]]:
    """Records that match the schema, and a failure row for each one that does not."""
    valid: list[dict[str, Any]] = []
    invalid: list[Failure] = []
    for record, problem in validator.split(records):
        if problem is None:
            valid.append(record)
            continue
        invalid.append(
            Failure(
                step=step,
                reason=f"{'row' if step == ROW_STEP else 'step record'} does not match its"
                f" schema: {problem}",
                input_id=str(record.get("input_id") or record.get("id") or ""),
                raw_output=short_json(record),
            )
        )
    return valid, invalid


def short_json(record: dict[str, Any], limit: int = 4000) -> str:
    text = json.dumps(record, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
