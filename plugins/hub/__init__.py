"""Publishing catalog versions to the Hugging Face Hub, and pulling Hub datasets in.

Commands: ``datagen publish`` and ``datagen pull``. The Python API is in
``datagen_plugins.hub.api`` (``publish``, ``pull``, ``publish_table``) and the card in
``datagen_plugins.hub.card`` (``render_card``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from datagen import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def datagen_register_commands(cli: click.Group) -> None:
    from datagen_plugins.hub.commands import publish, pull

    cli.add_command(publish)
    cli.add_command(pull)


@hookimpl
def datagen_register_sources(register: Callable[[type[Any]], None]) -> None:
    from datagen_plugins.hub.source import HubSource

    register(HubSource)
