"""The built-in CLI commands, one module per area; each module exports ``COMMANDS``."""

from __future__ import annotations

import importlib

import click

MODULES = (
    "datagen.commands.build",
    "datagen.commands.catalog",
    "datagen.commands.engine",
    "datagen.commands.evaluate",
)


def builtin_commands() -> list[click.Command]:
    commands: list[click.Command] = []
    for name in MODULES:
        commands.extend(importlib.import_module(name).COMMANDS)
    return commands
