"""What the engine commands show: the registered backends and the call cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen.engine.cache import CallCache, cache_path
from datagen.home import datagen_home


def list_backends() -> list[dict[str, Any]]:
    """Every registered backend: its spec kind, plugin, description, example and params."""
    from datagen.plugins import backends

    registry = backends()
    return [
        {
            "kind": kind,
            "plugin": registry.owners[kind],
            "description": cls.description,
            "example_spec": cls.example_spec,
            "params": {**cls.params, "attempts": "structured-output attempts (default 3)",
                       "license": "license recorded in lineage"},
        }
        for kind, cls in sorted(registry.items.items())
    ]


def cache_stats(home: Path | None = None) -> dict[str, Any]:
    cache = CallCache(cache_path(home or datagen_home()))
    try:
        return cache.stats()
    finally:
        cache.close()


def clear_cache(home: Path | None = None) -> int:
    cache = CallCache(cache_path(home or datagen_home()))
    try:
        return cache.clear()
    finally:
        cache.close()
