"""Record schemas: JSON Schema files named ``NAME.schema.json`` in catalog folders.

Every row a build writes is validated against its generator's ``output_schema`` before it
reaches storage; a row that fails becomes a failure row naming the field and the rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from datagen.errors import InvalidInput, NotFound, PluginError

SUFFIX = ".schema.json"


@cache
def all_schemas() -> dict[str, Path]:
    from datagen.plugins import catalog_folders

    found: dict[str, Path] = {}
    for folder in catalog_folders().items.values():
        for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if name in found:
                raise PluginError(f"schema {name!r} in {path} is already defined in {found[name]}")
            found[name] = path
    return found


@cache
def load_schema(name: str) -> dict[str, Any]:
    schemas = all_schemas()
    if name not in schemas:
        raise NotFound("schema", name, schemas)
    try:
        return json.loads(schemas[name].read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"invalid JSON schema: {exc}", path=str(schemas[name])) from None


class RowValidator:
    """Validates records against one schema; reports the first problem of each bad row."""

    def __init__(self, schema: dict[str, Any]):
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(schema)
        self._validator = Draft202012Validator(schema)

    @classmethod
    def for_schema(cls, name: str) -> RowValidator:
        return cls(load_schema(name))

    def problem(self, row: dict[str, Any]) -> str | None:
        """None if ``row`` is valid, else a one-line description of the first error."""
        error = next(iter(self._validator.iter_errors(_plain(row))), None)
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(row)"
        return f"{where}: {error.message}"

    def split(self, rows: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str | None]]:
        for row in rows:
            yield row, self.problem(row)


def _plain(value: Any) -> Any:
    """JSON-like view of a record (tuples -> lists) so jsonschema sees arrays."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
