"""The plugin hooks datagen calls. This module is the whole plugin surface.

Plugins implement these with ``@datagen.hookimpl`` and are found through the ``datagen``
entry-point group (the bundled plugins in ``plugins/`` are registered the same way).
Each ``register`` callback checks what it is given, records which plugin gave it and
rejects duplicate names. New parameters are only ever added as opt-in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from datagen.executor import Executor
    from datagen.generator import Generator
    from datagen.sources import Source

hookspec = pluggy.HookspecMarker("datagen")
hookimpl = pluggy.HookimplMarker("datagen")


@hookspec
def datagen_register_generators(register: Callable[[type[Generator]], None]) -> None:
    """Called once when generators are first needed.

    Call ``register(GeneratorSubclass)`` for each generator the plugin provides.
    """


@hookspec
def datagen_register_backends(register: Callable[[type[Any]], None]) -> None:
    """Called once when model backends are first needed.

    Call ``register(BackendSubclass)`` (a ``datagen.engine.Backend``) for each backend; its
    ``kind`` is the prefix users write in a model spec (``kind:...``).
    """


@hookspec
def datagen_register_trainers(register: Callable[[type[Any]], None]) -> None:
    """Called once when trainers are first needed.

    Call ``register(TrainerSubclass)`` for each training method (``sft``, ``dpo``, ...).
    """


@hookspec
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    """Called once when recipes or schemas are first needed.

    Call ``register(folder)`` with a folder holding recipe files (``*.toml``) and/or
    JSON record schemas (``*.schema.json``) that the plugin ships.
    """


@hookspec
def datagen_register_sources(register: Callable[[type[Source]], None]) -> None:
    """Called once when a build input names a source kind (``PREFIX:REF``).

    Call ``register(SourceSubclass)`` (a ``datagen.sources.Source``) for each input kind;
    its ``prefix`` is what users write before the colon in ``--input``.
    """


@hookspec
def datagen_register_executors(register: Callable[[type[Executor]], None]) -> None:
    """Called once when a build names an executor (``--executor NAME[:TARGET]``).

    Call ``register(ExecutorSubclass)`` (a ``datagen.executor.Executor``); its ``name`` is
    what users write. The executor runs batch stages and yields outputs in batch order.
    """


@hookspec
def datagen_register_commands(cli: click.Group) -> None:
    """Called when the CLI starts; add click commands or groups to ``cli``."""
