"""Plugin discovery and the registries filled through the hooks.

One discovery path for everything: the ``datagen`` entry-point group. The bundled plugins
in ``plugins/`` are entry points of this package, loaded exactly like third-party ones.
``DATAGEN_PLUGINS=a,b`` restricts loading to the named entry points.

``pm.hook.*`` is only called from the typed functions below.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from datagen import hookspecs
from datagen.errors import NotFound, PluginError

if TYPE_CHECKING:
    import click

    from datagen.generator import Generator

ENTRY_POINT_GROUP = "datagen"
T = TypeVar("T")


@cache
def get_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("datagen")
    pm.add_hookspecs(hookspecs)
    wanted = _wanted_plugins()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if wanted is not None and entry_point.name not in wanted:
            continue
        if pm.get_plugin(entry_point.name) is not None:
            continue
        try:
            module = entry_point.load()
        except Exception as exc:  # a broken third-party plugin must not break the CLI
            print(f"datagen: could not load plugin {entry_point.name!r}: {exc}", file=sys.stderr)
            continue
        pm.register(module, name=entry_point.name)
    pm.check_pending()
    return pm


def _wanted_plugins() -> set[str] | None:
    value = os.environ.get("DATAGEN_PLUGINS")
    if not value:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


@dataclass
class Registry:
    """Objects of one kind registered by plugins, keyed by name, remembering their plugin."""

    kind: str
    key: Callable[[Any], str]
    items: dict[str, Any] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def add(self, item: Any, plugin: str) -> None:
        name = self.key(item)
        if name in self.items:
            raise PluginError(
                f"{self.kind} {name!r} from plugin {plugin!r} is already registered"
                f" by plugin {self.owners[name]!r}"
            )
        self.items[name] = item
        self.owners[name] = plugin

    def get(self, name: str) -> Any:
        if name not in self.items:
            raise NotFound(self.kind, name, self.items)
        return self.items[name]


def _collect(hook_name: str, registry: Registry, check: Callable[[Any], None]) -> Registry:
    pm = get_plugin_manager()
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or "?"

        def register(item: Any, _plugin: str = plugin_name) -> None:
            try:
                check(item)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {_plugin!r} registered an invalid {registry.kind}: {exc}"
                ) from exc
            registry.add(item, _plugin)

        impl.function(register=register)
    return registry


def _check_subclass(base_path: str) -> Callable[[Any], None]:
    def check(item: Any) -> None:
        module_name, _, class_name = base_path.rpartition(".")
        base = getattr(__import__(module_name, fromlist=[class_name]), class_name)
        if not (isinstance(item, type) and issubclass(item, base)):
            raise PluginError(f"expected a subclass of {base_path}, got {item!r}")

    return check


def _classes(hook: str, kind: str, attribute: str, base_path: str) -> Registry:
    """The subclasses of ``base_path`` plugins register through ``hook``, keyed by an
    attribute of the class (its ``name``, ``kind`` or ``prefix``)."""
    registry = Registry(kind, key=lambda item: getattr(item, attribute))
    return _collect(hook, registry, _check_subclass(base_path))


@cache
def generators() -> Registry:
    return _classes("datagen_register_generators", "generator", "name",
                    "datagen.generator.Generator")


@cache
def backends() -> Registry:
    return _classes("datagen_register_backends", "backend", "kind", "datagen.engine.Backend")


@cache
def trainers() -> Registry:
    return _classes("datagen_register_trainers", "trainer", "name", "datagen.training.Trainer")


@cache
def sources() -> Registry:
    return _classes("datagen_register_sources", "input source kind", "prefix",
                    "datagen.sources.Source")


@cache
def executors() -> Registry:
    return _classes("datagen_register_executors", "executor", "name",
                    "datagen.executor.Executor")


def _check_folder(item: Any) -> None:
    if not Path(item).is_dir():
        raise PluginError(f"catalog folder {item!s} does not exist")


@cache
def catalog_folders() -> Registry:
    return _collect(
        "datagen_register_catalogs",
        Registry("catalog folder", key=lambda p: str(Path(p).resolve())),
        _check_folder,
    )


def get_generator(name: str) -> type[Generator]:
    return generators().get(name)


def register_commands(cli: click.Group) -> None:
    get_plugin_manager().hook.datagen_register_commands(cli=cli)


def describe_plugins() -> list[dict[str, Any]]:
    """Each loaded plugin, its version, the hooks it implements and what it registered."""
    pm = get_plugin_manager()
    registered: dict[str, list[str]] = {}
    registries = (generators(), backends(), trainers(), sources(), executors(), catalog_folders())
    for registry in registries:
        for name, owner in registry.owners.items():
            registered.setdefault(owner, []).append(f"{registry.kind}:{name}")
    dists = {ep.name: ep.dist for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    rows = []
    for name, plugin in sorted(pm.list_name_plugin()):
        dist = dists.get(name)
        rows.append(
            {
                "name": name,
                "package": dist.name if dist else "",
                "version": dist.version if dist else "",
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
                "registers": sorted(registered.get(name, [])),
            }
        )
    return rows


def reset() -> None:
    """Forget loaded plugins (tests use this after installing a plugin)."""
    for fn in (get_plugin_manager, generators, backends, trainers, sources, executors,
               catalog_folders):
        fn.cache_clear()
