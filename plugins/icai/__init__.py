"""Inverse Constitutional AI: a constitution from preferences (``constitution``), pairs
labeled by a constitution (``constitutional-prefs``), and ``datagen eval constitution``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from datagen import hookimpl


@hookimpl
def datagen_register_generators(register: Callable[[type[Any]], None]) -> None:
    from .generator import Annotate, Constitution

    register(Constitution)
    register(Annotate)


@hookimpl
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    register(Path(__file__).parent / "catalog")


@hookimpl
def datagen_register_commands(cli: click.Group) -> None:
    from datagen.commands.evaluate import eval_group

    from .command import eval_constitution

    eval_group(cli).add_command(eval_constitution)
