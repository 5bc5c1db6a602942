"""Running a recipe: input -> the generator's stages -> validated rows -> one new version.

Model roles are resolved first (a role without a model stops the build before any model
loads). Batch stages go through an executor, whose outputs are validated and written to the
open version as they arrive; whole-dataset stages run here over an earlier stage's table.
Nothing is visible until the final commit. A build that raises or is killed leaves no
version; finished model calls survive in the call cache, so a rerun only makes the calls
that had not completed, whole-dataset stages included.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import datagen
from datagen.errors import BuildFailed, UsageError
from datagen.executor import (
    DEFAULT_OVERLAP,
    Executor,
    ExecutorSettings,
    Sink,
    make_executor,
)
from datagen.generator import (
    INPUT,
    BatchOutput,
    Generator,
    GeneratorContext,
    Stage,
    check_stages,
    read_later,
)
from datagen.home import datagen_home
from datagen.inputs import Input, open_input, require_columns
from datagen.llm import Model
from datagen.outputs import OutputWriter, Tally
from datagen.plugins import generators
from datagen.recipes import Recipe, get_recipe
from datagen.roles import RoleSpecs, resolve_roles


@dataclass
class BuildResult:
    dataset: str
    version: int
    build_id: str
    rows: int
    failures: int
    seconds: float
    usage: dict[str, Any] = field(default_factory=dict)


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
    executor: str | None = None,
    overlap: int = DEFAULT_OVERLAP,
    allow_empty: bool = False,
) -> BuildResult:
    """Build ``recipe_name`` into a new version of its dataset and return what was written.

    ``models`` are ``-m`` values (``SPEC`` for every role, ``ROLE=SPEC`` for one). A build
    that writes no row fails (its failure rows stay queryable) unless ``allow_empty``.
    """
    from datagen.catalog import Catalog
    from datagen.engine.progress import Progress

    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    home = home or datagen_home()
    recipe = get_recipe(recipe_name)
    generator_cls = generators().get(recipe.generator)
    generator = generator_cls(generator_cls.parse_options({**recipe.options, **(options or {})}))
    role_specs = resolve_roles(
        generator.model_roles(), recipe.models, models or (), where=str(recipe.source)
    )
    started = time.time()
    with Catalog.open(home) as catalog:
        source = open_input(recipe.default_input() if input is None else input, catalog)
        require_columns(source.table, generator_cls.input_columns, source.describe())
        total = source.num_rows if limit is None else min(limit, source.num_rows)
        progress = Progress(quiet=quiet)
        with _engine(role_specs, home, use_cache, progress) as (engine, role_models):
            ctx = GeneratorContext(models=role_models, specs=role_specs,
                                   dataset=recipe.dataset_name, home=home, use_cache=use_cache)
            info = _build_info(recipe, generator, role_specs, engine, source, command)
            schema = OutputWriter.row_types(generator_cls)
            with catalog.writer(recipe.dataset_name, build=info, schema=schema) as writer:
                progress.start(total)
                settings = ExecutorSettings(overlap=overlap, home=home, use_cache=use_cache,
                                            counters=engine.counters)
                tally = run_stages(
                    generator, source, limit, ctx, make_executor(executor, settings), writer,
                    progress,
                )
                _refuse_empty(recipe.dataset_name, tally, allow_empty)
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


@contextmanager
def _engine(
    role_specs: RoleSpecs, home: Path, use_cache: bool, progress: Any
) -> Iterator[tuple[Any, dict[str, list[Model]]]]:
    """One engine for every distinct spec, and each role's models from it."""
    from datagen.engine import Engine

    distinct = list(dict.fromkeys(s for specs in role_specs.values() for s in specs))
    with Engine(distinct, home=home, use_cache=use_cache, progress=progress) as engine:
        by_spec = dict(zip(distinct, engine.models, strict=True))
        models: dict[str, list[Model]] = {
            role: [by_spec[s] for s in specs] for role, specs in role_specs.items()
        }
        yield engine, models


def run_stages(
    generator: Generator,
    source: Input,
    limit: int | None,
    ctx: GeneratorContext,
    executor: Executor,
    sink: Sink,
    progress: Any,
) -> Tally:
    """Run every stage in order; batch stages go through ``executor``, whole ones here."""
    stages = generator.stages()
    check_stages(type(generator).name, stages, type(generator).step_schemas)
    output = OutputWriter(type(generator), sink, keep=read_later(stages))
    counted = next((s for s in stages if s.over == INPUT), None)  # progress follows it
    try:
        for stage in stages:
            stage_ctx = ctx.with_tables({name: output.table(name) for name in stage.reads})
            for out, rows_in in _stage_outputs(stage, generator, source, limit, output, stage_ctx,
                                               executor):
                output.write(out)
                if stage is counted:
                    progress.rows_done(rows_in)
    finally:
        executor.close()
    return output.tally


def _stage_outputs(
    stage: Stage,
    generator: Generator,
    source: Input,
    limit: int | None,
    output: OutputWriter,
    ctx: GeneratorContext,
    executor: Executor,
) -> Iterator[tuple[BatchOutput, int]]:
    """Each output of ``stage`` with the number of input rows it finished (for progress)."""
    from_input = stage.over == INPUT
    if stage.whole:
        frame = source.frame(limit) if from_input else output.table(stage.over)
        yield stage.run(frame, ctx), frame.height if from_input else 0
        return
    size = stage.batch_size or generator.batch_size
    if from_input:
        batches = list(source.batches(size, limit))
    else:
        whole = output.table(stage.over)
        batches = [whole.slice(start, size) for start in range(0, whole.height, size)]
    for batch, out in zip(batches, executor.map_batches(stage, batches, ctx), strict=True):
        yield out, batch.height if from_input else 0


def _refuse_empty(dataset: str, tally: Tally, allow_empty: bool) -> None:
    if tally.rows or allow_empty:
        return
    raise BuildFailed(
        f"the build of {dataset!r} produced no rows ({tally.failures} failure rows); no version"
        " was written. See why: datagen sql \"SELECT step, reason FROM failures ORDER BY"
        " created_at DESC LIMIT 20\" (or pass --allow-empty to commit an empty version)"
    )


def _build_info(
    recipe: Recipe,
    generator: Generator,
    role_specs: RoleSpecs,
    engine: Any,
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
        models=_role_models(role_specs, engine.describe()),
        inputs=[source.lineage],
        command=command,
        started_at=datetime.now(UTC),
    )


def _role_models(role_specs: RoleSpecs, described: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One lineage entry per (role, model): which spec served which role, and its identity."""
    by_spec = {entry["spec"]: entry for entry in described}
    return [
        {"role": role, "index": index, **by_spec.get(spec, {"spec": spec})}
        for role, specs in role_specs.items()
        for index, spec in enumerate(specs)
    ]


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
