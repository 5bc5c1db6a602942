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
        self._validator = Draft202012Validator(schema, registry=_local_registry())
        self.arrow_schema = arrow_schema(schema)
        self.name = str(schema.get("title") or "schema")

    @classmethod
    def for_schema(cls, name: str) -> RowValidator:
        return cls(load_schema(name))

    @classmethod
    def checked(cls, schema: dict[str, Any], name: str) -> RowValidator:
        """A validator, or ``InvalidInput`` naming the schema when it is not a valid one."""
        from jsonschema.exceptions import SchemaError

        try:
            validator = cls(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
            raise InvalidInput(f"invalid JSON schema at {where}: {exc.message}",
                               path=name) from None
        validator.name = name
        return validator

    def problem(self, row: dict[str, Any]) -> str | None:
        """None if ``row`` is valid, else a one-line description of the first error."""
        from referencing.exceptions import Unresolvable

        try:
            error = next(iter(self._validator.iter_errors(_plain(row))), None)
        except Unresolvable as exc:
            raise InvalidInput(
                f"the schema refers to {exc.ref!r}, which is not in the schema itself; "
                "remote $ref are never fetched",
                path=self.name,
            ) from None
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(row)"
        return f"{where}: {error.message}"

    def to_arrow(self, rows: list[dict[str, Any]]) -> Any:
        """Valid rows as an Arrow table whose column types come from the schema."""
        return records_to_arrow(rows, self.arrow_schema)

    def split(self, rows: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str | None]]:
        for row in rows:
            yield row, self.problem(row)


def _no_remote(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def _local_registry() -> Any:
    """A registry that resolves only references inside the schema: nothing is fetched."""
    from referencing import Registry

    return Registry(retrieve=_no_remote)  # type: ignore[call-arg]


def _plain(value: Any) -> Any:
    """JSON-like view of a record (tuples -> lists) so jsonschema sees arrays."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def arrow_schema(schema: dict[str, Any]) -> Any:
    """The Arrow schema a record schema implies, for the properties whose type it fixes.

    Storing rows with types taken from their record schema (rather than guessed from the
    first batch) keeps a column's type the same in every batch and every version, even when
    the first rows hold only empty lists or nulls. Properties without a fixed type are left
    out and inferred from the data.
    """
    import pyarrow as pa

    fields = []
    for name, prop in schema.get("properties", {}).items():
        dtype = _arrow_type(prop)
        if dtype is not None:
            fields.append(pa.field(name, dtype))
    return pa.schema(fields)


def records_to_arrow(records: list[dict[str, Any]], schema: Any) -> Any:
    """Records as an Arrow table: typed columns from ``schema``, other keys inferred."""
    import pyarrow as pa

    extra = [key for key in dict.fromkeys(k for r in records for k in r) if key not in schema.names]
    if not len(schema):  # nothing typed by the schema: every column is inferred
        return pa.Table.from_pylist(records)
    table = pa.Table.from_pylist(records, schema=schema)
    if extra:
        inferred = pa.Table.from_pylist([{key: r.get(key) for key in extra} for r in records])
        for field, column in zip(inferred.schema, inferred.columns, strict=True):
            table = table.append_column(field, column)
    return table


_SCALARS = {"string": "string", "integer": "int64", "number": "float64", "boolean": "bool_"}


def _arrow_type(prop: dict[str, Any]) -> Any:
    import pyarrow as pa

    kind = prop.get("type")
    if isinstance(kind, list):  # ["string", "null"] -> string
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind is None and "enum" in prop and all(isinstance(v, str) for v in prop["enum"]):
        kind = "string"
    if kind in _SCALARS:
        return getattr(pa, _SCALARS[kind])()
    if kind == "array" and isinstance(prop.get("items"), dict):
        item = _arrow_type(prop["items"])
        return pa.list_(item) if item is not None else None
    if kind == "object" and prop.get("properties"):
        fields = [(name, _arrow_type(sub)) for name, sub in prop["properties"].items()]
        if all(dtype is not None for _, dtype in fields):
            return pa.struct(fields)
    return None
