"""The host's own plugin: the bundled record schemas and recipe catalogs."""

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
