"""Turning what builds hand us (Arrow tables, polars frames, lists of dicts) into Arrow
tables with types Parquet and DuckLake store well."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from datagen.errors import CatalogError


def to_arrow(data: Any) -> pa.Table:
    """Accept a pyarrow Table/RecordBatch, a polars DataFrame or a list of dicts."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, list):
        table = _from_records(data)
    elif hasattr(data, "to_arrow"):
        table = data.to_arrow()
    else:
        raise CatalogError(
            f"cannot write {type(data).__name__}: give a pyarrow Table, a polars "
            "DataFrame or a list of dicts"
        )
    return normalize(table)


def _from_records(records: list[dict[str, Any]]) -> pa.Table:
    try:
        return pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        column = _first_bad_column(records)
        where = f"column {column!r}: " if column else ""
        raise CatalogError(f"{where}values of mixed types cannot be stored ({exc})") from None


def _first_bad_column(records: list[dict[str, Any]]) -> str | None:
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(record))
    for key in keys:
        try:
            pa.array([record.get(key) for record in records])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return key
    return None


def normalize_type(dtype: pa.DataType) -> pa.DataType:
    """Null -> string, view types -> large types, recursively."""
    if pa.types.is_null(dtype):
        return pa.string()
    if pa.types.is_string_view(dtype):
        return pa.large_string()
    if pa.types.is_binary_view(dtype):
        return pa.large_binary()
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        inner = normalize_type(dtype.value_type)
        return pa.list_(inner) if pa.types.is_list(dtype) else pa.large_list(inner)
    if pa.types.is_struct(dtype):
        return pa.struct([f.with_type(normalize_type(f.type)) for f in dtype])
    if pa.types.is_dictionary(dtype):
        return normalize_type(dtype.value_type)
    return dtype


def normalize(table: pa.Table) -> pa.Table:
    schema = pa.schema([f.with_type(normalize_type(f.type)) for f in table.schema])
    if schema.equals(table.schema):
        return table
    return table.cast(schema)


def with_string_ids(table: pa.Table) -> pa.Table:
    """Every dataset row has a string ``id``: required, cast from ints if needed."""
    if "id" not in table.column_names:
        raise CatalogError(
            f"rows have no 'id' column (columns: {', '.join(table.column_names)}); "
            "every dataset row needs a string id"
        )
    ids = table.column("id")
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        if not pa.types.is_integer(ids.type):
            raise CatalogError(f"column 'id' has type {ids.type}; ids must be strings")
        table = table.set_column(table.column_names.index("id"), "id", ids.cast(pa.string()))
    return table


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder/cast ``table`` to ``schema`` (missing columns become nulls)."""
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if not column.type.equals(field.type):
                try:
                    column = column.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise CatalogError(
                        f"column {field.name!r}: cannot store {column.type} values in a "
                        f"column of type {field.type} ({exc})"
                    ) from None
            columns.append(column)
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
