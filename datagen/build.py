"""Running a recipe: input -> generator batches -> validated rows -> one new dataset version.

The build streams: each input batch goes through the generator, its rows are validated
and written to the open version straight away, and nothing is visible until the final
commit. A build that raises or is killed leaves no version; finished model calls survive
in the call cache, so a rerun only makes the calls that had not completed.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import datagen
from datagen.errors import UsageError
from datagen.generator import BatchOutput, Failure, Generator, GeneratorContext
from datagen.home import datagen_home
from datagen.inputs import Input, open_input, require_columns
from datagen.plugins import generators
from datagen.recipes import Recipe, get_recipe
from datagen.validation import RowValidator


@dataclass
class BuildResult:
    dataset: str
    version: int
    build_id: str
    rows: int
    failures: int
    seconds: float
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Tally:
    rows: int = 0
    failures: int = 0


def run_build(
    recipe_name: str,
    *,
    options: dict[str, Any] | None = None,
    input: str | None = None,
    models: list[str] | None = None,
    limit: int | None = None,
    home: Path | None = None,
    use_cache: bool = True,
    quiet: bool = False,
    command: str = "",
) -> BuildResult:
    """Build ``recipe_name`` into a new version of its dataset and return what was written."""
    from datagen.catalog import Catalog
    from datagen.engine import Engine
    from datagen.engine.progress import Progress

    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    home = home or datagen_home()
    recipe = get_recipe(recipe_name)
    generator_cls = generators().get(recipe.generator)
    generator = generator_cls(generator_cls.parse_options({**recipe.options, **(options or {})}))
    specs = list(models or recipe.models or generator.default_models())
    validator = RowValidator.for_schema(generator_cls.output_schema)
    started = time.time()
    with Catalog.open(home) as catalog:
        source = open_input(recipe.default_input() if input is None else input, catalog)
        require_columns(source.table, generator_cls.input_columns, _describe(source))
        total = source.num_rows if limit is None else min(limit, source.num_rows)
        progress = Progress(quiet=quiet)
        with Engine(specs, home=home, use_cache=use_cache, progress=progress) as engine:
            info = _build_info(recipe, generator, specs, engine.describe(), source, command)
            ctx = GeneratorContext(models=engine.models, seed=generator.options.seed)
            row_types = validator.arrow_schema
            with catalog.writer(recipe.dataset_name, build=info, schema=row_types) as writer:
                progress.start(total)
                tally = _run_batches(generator, source, limit, ctx, validator, writer, progress)
                usage = asdict(engine.counters)
                stats = {"rows": tally.rows, "failures": tally.failures, **usage}
                version = writer.commit(stats)
            progress.finish()
    return BuildResult(
        dataset=recipe.dataset_name,
        version=version,
        build_id=info.build_id,
        rows=tally.rows,
        failures=tally.failures,
        seconds=time.time() - started,
        usage=usage,
    )


def _run_batches(
    generator: Generator,
    source: Input,
    limit: int | None,
    ctx: GeneratorContext,
    validator: RowValidator,
    writer: Any,
    progress: Any,
) -> _Tally:
    tally = _Tally()
    for batch in source.batches(generator.batch_size, limit):
        output = generator.generate(batch, ctx)
        rows, invalid = _validate_rows(output, validator)
        failures = output.failures + invalid
        if rows:
            writer.write_rows(validator.to_arrow(rows))
        for step, records in output.steps.items():
            if records:
                writer.write_step(step, records)
        if failures:
            writer.write_failures(failures)
        tally.rows += len(rows)
        tally.failures += len(failures)
        progress.rows_done(batch.height)
    return tally


def _validate_rows(
    output: BatchOutput, validator: RowValidator
) -> tuple[list[dict[str, Any]], list[Failure]]:
    valid: list[dict[str, Any]] = []
    invalid: list[Failure] = []
    for row, problem in validator.split(output.rows):
        if problem is None:
            valid.append(row)
        else:
            invalid.append(
                Failure(
                    step="validate",
                    reason=f"row does not match its schema: {problem}",
                    input_id=str(row.get("id", "")),
                    raw_output=_short_json(row),
                )
            )
    return valid, invalid


def _build_info(
    recipe: Recipe,
    generator: Generator,
    specs: list[str],
    models: list[dict[str, Any]],
    source: Input,
    command: str,
) -> Any:
    from datagen.catalog import BuildInfo

    plugin, plugin_version = _owner(type(generator).name)
    return BuildInfo(
        build_id=uuid.uuid4().hex,
        dataset=recipe.dataset_name,
        recipe=recipe.name,
        recipe_text=recipe.text(),
        generator=type(generator).name,
        generator_version=type(generator).version,
        plugin=plugin,
        plugin_version=plugin_version,
        datagen_version=datagen.__version__,
        code_revision=code_revision(),
        options=generator.options.model_dump(mode="json"),
        models=models or [{"spec": s} for s in specs],
        inputs=[source.lineage],
        command=command,
        started_at=datetime.now(UTC),
    )


def _owner(generator_name: str) -> tuple[str, str]:
    plugin = generators().owners.get(generator_name, "")
    for entry_point in metadata.entry_points(group="datagen", name=plugin):
        if entry_point.dist is not None:
            return plugin, entry_point.dist.version
    return plugin, ""


@cache
def code_revision() -> str:
    """The git commit of the datagen checkout, with ``+dirty`` for local edits; "" if unknown."""
    package_dir = Path(datagen.__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(package_dir), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(package_dir), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}+dirty" if dirty else head


def _describe(source: Input) -> str:
    lineage = source.lineage
    return str(lineage.get("path") or lineage.get("name") or lineage.get("repo") or "input")


def _short_json(row: dict[str, Any], limit: int = 4000) -> str:
    import json

    text = json.dumps(row, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."

