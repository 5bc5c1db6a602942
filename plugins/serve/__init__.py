"""Review and curate datasets: ``datagen serve`` (a local web app) and ``datagen curate``.

The web app (``datagen_plugins.serve.app``) browses the catalog, runs read-only SQL and
records per-row reviews in the catalog's ``reviews`` table. Curation
(``datagen_plugins.serve.curate``) turns a version into a new version with lineage: a
filter, a deduplication, a sample, a split or an applied review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datagen import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def datagen_register_commands(cli: click.Group) -> None:
    from datagen_plugins.serve.commands import curate, serve

    cli.add_command(serve)
    cli.add_command(curate)
