"""Reading feedback files (JSON Lines, JSON arrays, CSV, Parquet) and importing them.

Every problem is one ``InvalidInput`` line naming the file, the line (or item) and the
field, so a user can fix the file without reading a traceback. Importing never touches the
catalog until the whole file has been read and checked.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from datagen.errors import InvalidInput

if TYPE_CHECKING:
    from datagen.catalog import Catalog, VersionInfo

FORMATS = ("jsonl", "json", "csv", "parquet")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_EXPECTED = "expected JSON Lines, a JSON array of objects, CSV with a header, or Parquet"


@dataclass
class Loaded:
    """A file's rows as Arrow, with where each row came from (for error messages)."""

    table: pa.Table
    format: str
    where: list[str]  # per row: "line 3", "item 2", "row 7"
    path: str
    sha256: str = ""  # of the file's bytes as read, for lineage


# -- public API -----------------------------------------------------------------------
def read_file(path: str | Path, format: str | None = None) -> pa.Table:
    """Read a feedback file into an Arrow table (format from the extension, else sniffed)."""
    return load(path, format).table


def load(path: str | Path, format: str | None = None) -> Loaded:
    """Read and parse a file once; the result carries the digest of the bytes read."""
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise InvalidInput("no such file", path=label)
    raw = path.read_bytes()
    loaded = _parse(path, raw, format, label)
    loaded.sha256 = hashlib.sha256(raw).hexdigest()
    return loaded


def _parse(path: Path, raw: bytes, format: str | None, label: str) -> Loaded:
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, label)
        path = path.with_suffix("")
    fmt = format or _detect(path, raw)
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}", path=label)
    if not raw.strip():
        raise InvalidInput(f"empty file; {_EXPECTED}", path=label)
    if fmt == "parquet":
        return _load_parquet(raw, label)
    text = _decode(raw, label)
    if fmt == "csv":
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        records, where = _parse_csv(text, label, delimiter)
    elif fmt == "json" and text.lstrip().startswith("["):
        records, where = _parse_json_array(text, label)
    else:
        fmt = "jsonl"
        records, where = _parse_jsonl(text, label)
    if not records:
        raise InvalidInput(f"no rows in file; {_EXPECTED}", path=label)
    return Loaded(records_to_table(records, where, label), fmt, where, label)


def import_file(
    catalog: Catalog,
    path: str | Path,
    name: str,
    *,
    format: str | None = None,
    schema: str | None = None,
    command: str | None = None,
) -> VersionInfo:
    """Import a file as the next version of ``name``; lineage records path and sha256."""
    from datagen.catalog import check_name

    check_name(name)
    loaded = load(path, format)
    resolved = Path(path).resolve()
    source = {
        "kind": "file",
        "path": str(resolved),
        "sha256": loaded.sha256,
        "format": loaded.format,
        "rows": loaded.table.num_rows,
    }
    table = with_row_ids(loaded.table, loaded.where, loaded.path)
    if schema:
        document = schema_document(schema)
        if loaded.format == "csv":
            table = _csv_to_schema_types(table, document, loaded.where, loaded.path)
        validate(table, document, schema, loaded.where, loaded.path)
    return import_table(catalog, table, name, source, command=command, ids_checked=True)


def import_table(
    catalog: Catalog,
    table: pa.Table,
    name: str,
    source: dict[str, Any],
    *,
    command: str | None = None,
    ids_checked: bool = False,
) -> VersionInfo:
    """Write an Arrow table as the next version of ``name`` (row ids added if missing).

    ``source`` is the lineage entry (what the rows came from); other importers such as the
    Hub pull use this directly.
    """
    from datagen.catalog import BuildInfo, check_name

    check_name(name)
    if not ids_checked:
        table = with_row_ids(table, [f"row {i + 1}" for i in range(table.num_rows)], name)
    build = BuildInfo(generator="import", inputs=[source], command=command)
    with catalog.writer(name, build=build) as writer:
        writer.write_rows(table)
        version = writer.commit({"rows": table.num_rows})
    return catalog.resolve(f"{name}@{version}")


# -- row ids ----------------------------------------------------------------------------
def with_row_ids(table: pa.Table, where: list[str], label: str) -> pa.Table:
    """Use the ``id`` column (unique strings/ints) or a stable content hash, as column 1."""
    if "id" in table.column_names:
        ids = _checked_ids(table.column("id"), where, label)
        table = table.drop_columns(["id"])
    else:
        ids = pa.array(_content_ids(table), pa.string())
    return table.add_column(0, "id", ids)


def _checked_ids(column: pa.ChunkedArray, where: list[str], label: str) -> pa.Array:
    kind = column.type
    if not (
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
    ):
        raise InvalidInput(f"column 'id' must hold strings or integers, found {kind}", path=label)
    values = column.cast(pa.string()).to_pylist()
    first_seen: dict[str, int] = {}
    for index, value in enumerate(values):
        if value is None or value == "":
            raise InvalidInput(f"{where[index]}: empty 'id'", path=label)
        if value in first_seen:
            raise InvalidInput(
                f"duplicate id {value!r} ({where[first_seen[value]]} and {where[index]}); "
                "ids must be unique",
                path=label,
            )
        first_seen[value] = index
    return pa.array(values, pa.string())


def _content_ids(table: pa.Table) -> list[str]:
    """A stable id from each row's content; repeated rows get an occurrence suffix."""
    seen: dict[str, int] = {}
    ids = []
    for row in table.to_pylist():
        blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        ids.append(digest if count == 0 else f"{digest}-{count}")
    return ids


def schema_document(schema: str) -> dict[str, Any]:
    """A JSON schema by name (from the catalogs folders) or by file path."""
    from datagen.validation import load_schema

    path = Path(schema)
    if schema.endswith(".json") and path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"invalid JSON schema: {exc}", path=schema) from None
    return load_schema(schema)


def validate(
    table: pa.Table, document: dict[str, Any], schema: str, where: list[str], label: str
) -> None:
    """Check every row against a JSON schema; the first bad row names its line and field."""
    from datagen.validation import RowValidator

    validator = RowValidator(document)
    for index, row in enumerate(table.to_pylist()):
        problem = validator.problem(row)
        if problem is not None:
            raise InvalidInput(f"{where[index]}: field {problem} (schema {schema})", path=label)


_CSV_PARSERS = {"integer": int, "number": float}


def _csv_to_schema_types(
    table: pa.Table, document: dict[str, Any], where: list[str], label: str
) -> pa.Table:
    """CSV cells are text: a column the schema types differently is converted, and the
    first cell that does not convert is reported with its line."""
    properties = document.get("properties", {})
    for name, spec in properties.items():
        wanted = spec.get("type") if isinstance(spec, dict) else None
        if name not in table.column_names or not isinstance(wanted, str):
            continue
        column = table.column(name)
        index = table.column_names.index(name)
        if wanted == "string" and not pa.types.is_string(column.type):
            table = table.set_column(index, name, column.cast(pa.string()))
        elif wanted in _CSV_PARSERS and pa.types.is_string(column.type):
            for row, value in enumerate(column.to_pylist()):
                try:
                    _CSV_PARSERS[wanted](value)
                except (TypeError, ValueError):
                    raise InvalidInput(
                        f"{where[row]}: field {name!r}: {value!r} is not of type {wanted!r}",
                        path=label,
                    ) from None
    return table


# -- formats ----------------------------------------------------------------------------
def _detect(path: Path, raw: bytes) -> str:
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix:
        return by_suffix
    if raw[:4] == b"PAR1":
        return "parquet"
    head = raw.lstrip()[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "jsonl"
    return "csv"


def _gunzip(raw: bytes, label: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise InvalidInput(f"broken gzip file: {exc}", path=label) from None


def _decode(raw: bytes, label: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}; "
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
            path=label,
            line=line,
        ) from None
    return text.removeprefix("\ufeff")


def _load_parquet(raw: bytes, label: str) -> Loaded:
    import pyarrow.parquet as pq

    from datagen.catalog.arrowutil import normalize

    try:
        table = pq.read_table(io.BytesIO(raw))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"not a readable Parquet file: {exc}", path=label) from None
    if table.num_rows == 0:
        raise InvalidInput("no rows in Parquet file", path=label)
    where = [f"row {i + 1}" for i in range(table.num_rows)]
    return Loaded(normalize(table.replace_schema_metadata(None)), "parquet", where, label)


def _parse_jsonl(text: str, label: str) -> tuple[list[dict[str, Any]], list[str]]:
    records, where = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"bad JSON at column {exc.colno}: {exc.msg}", path=label, line=number
            ) from None
        if not isinstance(value, dict):
            raise InvalidInput(
                f"expected a JSON object per line, got {_json_kind(value)}", path=label, line=number
            )
        records.append(value)
        where.append(f"line {number}")
    return records, where


def _parse_json_array(text: str, label: str) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"bad JSON at column {exc.colno}: {exc.msg}", path=label, line=exc.lineno
        ) from None
    if not isinstance(value, list):
        raise InvalidInput(f"expected a JSON array of objects, got {_json_kind(value)}", path=label)
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise InvalidInput(
                f"item {index}: expected a JSON object, got {_json_kind(item)}", path=label
            )
    return value, [f"item {i}" for i in range(1, len(value) + 1)]


def _parse_csv(text: str, label: str, delimiter: str) -> tuple[list[dict[str, Any]], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InvalidInput(f"cannot read the CSV header: {exc}", path=label, line=1) from None
    _check_header(header, label)
    rows, where = [], []
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise InvalidInput(
                    f"expected {len(header)} columns ({', '.join(header)}), got {len(row)}",
                    path=label,
                    line=reader.line_num,
                )
            rows.append(row)
            where.append(f"line {reader.line_num}")
    except csv.Error as exc:
        raise InvalidInput(f"bad CSV: {exc}", path=label, line=reader.line_num) from None
    columns = [_typed_csv_column([row[i] for row in rows]) for i in range(len(header))]
    records = [dict(zip(header, values, strict=True)) for values in zip(*columns, strict=True)]
    return records, where


def _check_header(header: list[str], label: str) -> None:
    for index, name in enumerate(header, start=1):
        if not name.strip():
            raise InvalidInput(f"CSV header: column {index} has no name", path=label, line=1)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InvalidInput(f"CSV header: duplicate column {duplicates[0]!r}", path=label, line=1)


def _typed_csv_column(values: list[str]) -> list[Any]:
    """CSV has no types: a column is int, float or bool if every non-empty cell parses."""
    present = [v for v in values if v != ""]
    for convert in (int, float, _parse_bool):
        try:
            converted = [convert(v) for v in present]
        except ValueError:
            continue
        it = iter(converted)
        return [next(it) if v != "" else None for v in values]
    return values


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(value)


# -- records -> Arrow ---------------------------------------------------------------------
def records_to_table(records: list[dict[str, Any]], where: list[str], label: str) -> pa.Table:
    """Build one Arrow column per field; mixed types name the field and two locations."""
    from datagen.catalog.arrowutil import normalize

    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    arrays = {}
    for name in names:
        values = [record.get(name) for record in records]
        _check_consistent(name, values, where, label)
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise InvalidInput(
                f"field {name!r}: values cannot be stored ({exc})", path=label
            ) from None
    return normalize(pa.table(arrays))


def _check_consistent(name: str, values: list[Any], where: list[str], label: str) -> None:
    first: tuple[str, str, int] | None = None  # (family, kind, index)
    for index, value in enumerate(values):
        if value is None:
            continue
        kind = _json_kind(value)
        family = "number" if kind == "integer" else kind
        if first is None:
            first = (family, kind, index)
        elif family != first[0]:
            raise InvalidInput(
                f"field {name!r} has inconsistent types: {first[1]} at {where[first[2]]}, "
                f"{kind} at {where[index]}",
                path=label,
            )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
