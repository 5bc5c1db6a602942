"""``datagen train METHOD`` and ``datagen models``: parse, call the Python API, print."""

from __future__ import annotations

import json
from typing import Any

import click

from datagen.errors import UsageError


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``-o key=value`` pairs; values are read as JSON when they parse (numbers, lists)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"option {pair!r} is not key=value")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


class TrainGroup(click.Group):
    """One subcommand per registered trainer, listed lazily so plugins can add methods."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from datagen.training import trainer_names

        return trainer_names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from datagen.plugins import trainers

        trainer = trainers().items.get(cmd_name)
        return _train_command(cmd_name, trainer.description) if trainer else None


def _train_command(method: str, description: str) -> click.Command:
    @click.command(name=method, short_help=description, help=f"Train with {method}: {description}.")
    @click.option("--dataset", "-d", required=True, help="Dataset version: NAME or NAME@V.")
    @click.option("--model", "-m", required=True, help="Base model folder (or a Hub id).")
    @click.option("--output", required=True, type=click.Path(), help="Folder to save into.")
    @click.option("--lora", is_flag=True, help="Train LoRA adapters (merged when saved).")
    @click.option("-o", "overrides", multiple=True, metavar="KEY=VALUE", help="Hyperparameter.")
    def command(dataset: str, model: str, output: str, lora: bool, overrides: tuple[str, ...]):
        from datagen.training import train

        options = parse_overrides(overrides)
        if lora:
            options["lora"] = True
        result = train(method, dataset=dataset, model=model, output=output, options=options)
        click.echo(json.dumps({"output": str(result.output), "metrics": result.metrics}))

    return command


@click.group(cls=TrainGroup)
def train() -> None:
    """Fine-tune a model on a dataset version (needs the 'train' extra)."""


@click.group()
def models() -> None:
    """Model folders: prepare the embedded model for training, list trained models."""


@models.command("prepare")
@click.argument("name")
@click.option("--output", required=True, type=click.Path(), help="Folder to write the model to.")
def prepare_command(name: str, output: str) -> None:
    """Write a packaged model (smollm2) as a normal model folder that can be fine-tuned."""
    from datagen_plugins.trainer.prepare import prepare

    click.echo(f"prepared {prepare(name, output)}")


@models.command("list")
def list_command() -> None:
    """Models trained by datagen, newest last, with the dataset version each came from."""
    from datagen.catalog import Catalog

    with Catalog.open(None) as cat:
        rows = cat.records("models")
    for row in sorted(rows, key=lambda r: str(r.get("created_at", ""))):
        source = f"{row.get('dataset')}@{row.get('version')}" if row.get("dataset") else "-"
        click.echo(f"{row.get('created_at', '')!s:19.19}  {row.get('method', ''):6} "
                   f"{source:28} {row.get('path', '')}")
