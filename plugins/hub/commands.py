"""``datagen publish`` and ``datagen pull``: parse, call the hub API, print."""

from __future__ import annotations

import click


@click.command()
@click.argument("ref", metavar="NAME[@V]")
@click.option("--repo", "repo_id", required=True, metavar="ORG/NAME",
              help="Hub dataset repository to publish to (created if missing).")
@click.option("--private", is_flag=True, help="Create the repository as private.")
@click.option("--license", "license_id", metavar="ID",
              help="Hub license id for the card (default: the models' license, else 'other').")
@click.option("--description", metavar="TEXT", help="A paragraph for the top of the dataset card.")
def publish(ref: str, repo_id: str, private: bool, license_id: str | None,
            description: str | None) -> None:
    """Upload dataset version NAME[@V] to the Hub as Parquet plus a card, tagged vV.

    The token comes from HF_TOKEN or the Hub client's login. Publishing a version that is
    already tagged in the repository changes nothing.
    """
    from datagen_plugins.hub.api import publish as publish_version

    result = publish_version(ref, repo_id, private=private, license=license_id,
                             description=description)
    ref_text = f"{result.dataset}@{result.version}"
    if not result.changed:
        click.echo(f"{ref_text} is already published at {result.url} as {result.tag}"
                   f" ({result.commit[:12]}); nothing changed.")
        return
    click.echo(f"Published {ref_text} to {result.url} as {result.tag} ({result.commit[:12]}).")
    click.echo(f'Load it: datasets.load_dataset("{result.repo_id}", revision="{result.tag}")')


@click.command()
@click.argument("spec", metavar="ORG/NAME[@REVISION]")
@click.option("--name", required=True, help="Catalog dataset to import into (a new version).")
@click.option("--split", help="Split to import (default: train).")
@click.option("--config", help="Dataset config (subset) to import.")
def pull(spec: str, name: str, split: str | None, config: str | None) -> None:
    """Import a Hub dataset as a new version of catalog dataset NAME."""
    from datagen_plugins.hub.api import pull as pull_dataset

    result = pull_dataset(spec, name, split=split, config=config)
    click.echo(f"Wrote {result.name}@{result.version}: {result.rows} rows from"
               f" {result.repo_id}@{result.revision} ({result.commit[:12]}), split {result.split}.")
