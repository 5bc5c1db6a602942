"""``datagen build``, ``datagen recipes`` and ``datagen plugins``."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

import click

from datagen.errors import UsageError
from datagen.executor import DEFAULT_OVERLAP


def parse_assignments(values: tuple[str, ...]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, booleans, lists)."""
    options: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"option {item!r} is not key=value")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


@click.command()
@click.argument("recipe")
@click.option(
    "-o",
    "--option",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a generator option (repeatable).",
)
@click.option(
    "--input",
    "input_ref",
    metavar="SOURCE",
    help="Input: a file (JSONL/JSON/CSV/Parquet), a dataset NAME[@V], or hf:ORG/NAME[:SPLIT].",
)
@click.option(
    "-m",
    "--model",
    "models",
    multiple=True,
    metavar="[ROLE=]SPEC",
    help="SPEC: one model for every role; ROLE=SPEC: the model of one role (repeat it for a"
    " list role such as agents). `datagen recipes -v` lists roles, `datagen backends` specs.",
)
@click.option("--limit", type=int, help="Use only the first N input rows.")
@click.option(
    "--executor",
    metavar="NAME[:TARGET]",
    help="Where batch stages run: local (default, in this process), or a plugin's executor"
    " such as ray (a local Ray) or ray://HOST:PORT (a running cluster).",
)
@click.option(
    "--overlap",
    type=click.IntRange(1, 64),
    default=DEFAULT_OVERLAP,
    show_default=True,
    help="Batches in flight at once (keeps a server's request window full).",
)
@click.option(
    "--allow-empty", is_flag=True, help="Commit a version even if the build produced no row."
)
@click.option(
    "--no-cache", is_flag=True, help="Make every model call again (results still cached)."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def build(
    recipe: str,
    assignments: tuple[str, ...],
    input_ref: str | None,
    models: tuple[str, ...],
    limit: int | None,
    executor: str | None,
    overlap: int,
    allow_empty: bool,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Build RECIPE into a new version of its dataset."""
    from datagen.build import run_build
    from datagen.home import datagen_home

    result = run_build(
        recipe,
        options=parse_assignments(assignments),
        input=input_ref,
        models=list(models) or None,
        limit=limit,
        executor=executor,
        overlap=overlap,
        allow_empty=allow_empty,
        use_cache=not no_cache,
        quiet=quiet,
        command=shlex.join(["datagen", *sys.argv[1:]]),
    )
    ref = f"{result.dataset}@{result.version}"
    click.echo(
        f"Wrote {ref}: {result.rows} rows, {result.failures} failures"
        f" in {result.seconds:.1f} s (catalog: {datagen_home()})"
    )
    click.echo(f"Look at it:  datagen sql 'SELECT * FROM \"{ref}\" LIMIT 5'")
    if result.failures:
        click.echo(
            f'Failures:    datagen sql "SELECT step, reason FROM failures'
            f" WHERE build_id = '{result.build_id}'\""
        )


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Also show each recipe's model roles.")
def recipes(verbose: bool) -> None:
    """List the recipes that can be built."""
    from datagen.plugins import generators
    from datagen.recipes import all_recipes

    for name, recipe in sorted(all_recipes().items()):
        click.echo(f"{name:<20} generator={recipe.generator:<16} {recipe.description}")
        if verbose:
            for role in generators().get(recipe.generator).roles:
                many = " (list)" if role.many else ""
                click.echo(f"{'':<20} role {role.name}{many}: {role.description}")


@click.command()
def plugins() -> None:
    """Show loaded plugins, the hooks each implements and what each registers."""
    from datagen.plugins import describe_plugins

    for plugin in describe_plugins():
        version = f" {plugin['version']}" if plugin["version"] else ""
        click.echo(f"{plugin['name']} ({plugin['package']}{version})")
        click.echo(f"  hooks:     {', '.join(plugin['hooks']) or '-'}")
        click.echo(f"  registers: {', '.join(plugin['registers']) or '-'}")


COMMANDS = [build, recipes, plugins]
