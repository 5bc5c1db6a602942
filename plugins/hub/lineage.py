"""Gathering a card's facts from the catalog: the version, its build, its generator."""

from __future__ import annotations

from typing import Any

from datagen.errors import NotFound
from datagen_plugins.hub.card import CardFacts


def card_facts(
    catalog: Any,
    info: Any,
    *,
    schema: Any = None,
    license: str | None = None,
    description: str | None = None,
) -> CardFacts:
    """Facts about catalog version ``info`` (a ``VersionInfo``) for its dataset card.

    ``schema`` (the version's Arrow schema) saves reading the rows again when the caller
    already has them.
    """
    build = build_record(catalog, info)
    stats = _as_dict(build.get("counts"))
    generator_name = build.get("generator")
    generator = _generator_class(generator_name)
    if schema is None:
        schema = catalog.read_arrow(f"{info.name}@{info.version}").schema
    return CardFacts(
        dataset=info.name,
        version=int(info.version),
        rows=int(_first(getattr(info, "rows", None), stats.get("rows"), 0)),
        failures=int(_first(getattr(info, "failures", None), stats.get("failures"), 0)),
        columns={field.name: str(field.type) for field in schema},
        recipe=build.get("recipe"),
        generator=generator_name,
        generator_version=build.get("generator_version"),
        generator_description=getattr(generator, "description", "") or "",
        plugin=build.get("plugin"),
        models=[_as_dict(m) for m in _as_list(build.get("models"))],
        inputs=[_as_dict(i) for i in _as_list(build.get("inputs"))],
        command=build.get("command") or None,
        citation=getattr(generator, "citation", None),
        task_categories=list(getattr(generator, "task_categories", ()) or ()),
        datagen_version=build.get("datagen_version"),
        code_revision=build.get("code_revision"),
        license=license,
        description=description,
    )


def build_record(catalog: Any, info: Any) -> dict[str, Any]:
    """The ``builds`` row that made this version; empty for versions without one."""
    build = getattr(info, "build", None)
    if isinstance(build, dict):
        return build
    build_id = getattr(info, "build_id", None)
    rows = catalog.records("builds", build_id=build_id) if build_id else []
    if not rows:
        rows = catalog.records("builds", dataset=info.name, version=info.version)
    return dict(rows[0]) if rows else {}


def _generator_class(name: str | None) -> Any:
    if not name:
        return None
    from datagen.plugins import get_generator

    try:
        return get_generator(name)
    except NotFound:  # built by a plugin that is no longer installed
        return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.startswith("{"):
        import json

        return json.loads(value)
    return {"value": value} if value is not None else {}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str):
        import json

        value = json.loads(value) if value.startswith("[") else [value]
    return list(value or [])
