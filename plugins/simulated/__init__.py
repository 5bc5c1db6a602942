"""Simulated annotators and simulated users (``simulated-prefs``, ``simulated-dialogues``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datagen import hookimpl


@hookimpl
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    register(Path(__file__).parent / "catalog")


@hookimpl
def datagen_register_generators(register: Callable[[type[Any]], None]) -> None:
    from .dialogues import SimulatedDialogues
    from .prefs import SimulatedPrefs

    register(SimulatedPrefs)
    register(SimulatedDialogues)
