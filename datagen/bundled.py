"""The host's own registrations: its record schemas and recipe catalogs.

Registered through the same hook and entry-point group as every plugin (entry point
``core``), so ``DATAGEN_PLUGINS`` and ``datagen plugins`` treat them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from datagen import hookimpl


@hookimpl
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    import datagen.catalogs
    import datagen.schemas

    register(Path(datagen.schemas.__file__).parent)
    register(Path(datagen.catalogs.__file__).parent)
