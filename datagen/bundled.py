"""The host's own registrations: its record schemas, recipe catalogs and local executor.

Registered through the same hook and entry-point group as every plugin (entry point
``core``), so ``DATAGEN_PLUGINS`` and ``datagen plugins`` treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datagen import hookimpl


@hookimpl
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    import datagen.catalogs
    import datagen.schemas

    register(Path(datagen.schemas.__file__).parent)
    register(Path(datagen.catalogs.__file__).parent)


@hookimpl
def datagen_register_executors(register: Callable[[type[Any]], None]) -> None:
    from datagen.executor import LocalExecutor

    register(LocalExecutor)
