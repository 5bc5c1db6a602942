"""Run a build's batch stages on Ray: ``datagen build RECIPE --executor ray[://HOST:PORT]``.

Needs the ``ray`` extra. See ``executor.py`` for how work, models and the call cache are
spread over workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datagen import hookimpl


@hookimpl
def datagen_register_executors(register: Callable[[type[Any]], None]) -> None:
    from datagen_plugins.ray.executor import RayExecutor

    register(RayExecutor)
