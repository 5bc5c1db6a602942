"""Commands about model backends and the call cache: ``backends``, ``cache stats|clear``."""

from __future__ import annotations

import json

import click


@click.command("backends")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def backends(as_json: bool) -> None:
    """List model backends and how to address them in --model specs.

    A spec is KIND[:TARGET][?key=value&...], e.g. 'embedded', 'gguf:PATH',
    'openai:MODEL@http://host:port/v1' or 'vllm:PATH_OR_ID'. Server keys come only
    from DATAGEN_OPENAI_API_KEY or OPENAI_API_KEY.
    """
    from datagen.engine.catalog import list_backends

    rows = list_backends()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo("Model spec: KIND[:TARGET][?key=value&...]\n")
    for row in rows:
        click.echo(f"{row['kind']}  ({row['plugin']})\n  {row['description']}")
        click.echo(f"  e.g. --model '{row['example_spec']}'")
        for key, text in row["params"].items():
            click.echo(f"    ?{key}=  {text}")
        click.echo("")


@click.group("cache")
def cache() -> None:
    """Inspect or clear the model call cache (DATAGEN_HOME/cache/calls.sqlite)."""


@cache.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def cache_stats(as_json: bool) -> None:
    """How many calls are cached, for which models, and the cache's size."""
    from datagen.engine.catalog import cache_stats as read_stats

    stats = read_stats()
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"{stats['path']}: {stats['calls']} calls, {stats['completion_tokens']} tokens,"
               f" {stats['bytes'] / 1e6:.1f} MB")
    for model in stats["models"]:
        click.echo(f"  {model['calls']:>8}  {model['kind']}  {model['identity']}")


@cache.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(yes: bool) -> None:
    """Forget every cached call (the next build asks the models again)."""
    from datagen.engine.catalog import clear_cache

    if not yes:
        click.confirm("Forget every cached model call?", abort=True)
    removed = clear_cache()
    click.echo(f"removed {removed} cached calls")


COMMANDS = [backends, cache]
