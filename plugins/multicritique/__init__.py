"""MultiCritique: critique data from several agents (``critique-sft``, ``critique-pref``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datagen import hookimpl


@hookimpl
def datagen_register_generators(register: Callable[[type[Any]], None]) -> None:
    from .generator import MultiCritique, MultiCritiquePref

    register(MultiCritique)
    register(MultiCritiquePref)
