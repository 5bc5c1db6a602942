"""``datagen eval``: the group every evaluation joins.

Plugins add their evaluations as subcommands in ``datagen_register_commands``::

    eval_group(cli).add_command(my_eval)

Each evaluation writes one row to the catalog's ``metrics`` table, linked to the models and
dataset versions it measured.
"""

from __future__ import annotations

import click


@click.group("eval")
def evaluate() -> None:
    """Evaluate models and datasets; each run adds a row to the metrics table."""


def eval_group(cli: click.Group) -> click.Group:
    """The ``eval`` group of ``cli`` (the host adds it before any plugin's commands)."""
    group = cli.commands.get("eval")
    if not isinstance(group, click.Group):
        group = evaluate
        cli.add_command(group)
    return group


COMMANDS = [evaluate]
