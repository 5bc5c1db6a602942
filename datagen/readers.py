"""Reading feedback files (JSON Lines, JSON arrays, CSV, Parquet) and importing them.

Every problem is one ``InvalidInput`` line naming the file, the line (or item) and the
field, so a user can fix the file without reading a traceback. An import reads the file
twice, a chunk at a time, so memory stays bounded whatever the file's size:

1. the scan checks every record (types, names, ids, the ``--schema``) and settles each
   column's type; the catalog is not touched until the whole file has passed;
2. the write converts each chunk to Arrow with those types and streams it to the catalog.

Imports never change a value: CSV cells stay text unless the caller asks for types
(``infer_types``, which converts a column only when every cell is the exact spelling of
its value, so ``007`` stays ``"007"``) or a schema types the column.
"""

from __future__ import annotations

import hashlib
import io
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from datagen import formats
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
CHUNK_ROWS = 8192
CHUNK_BYTES = 8 * 1024 * 1024
MAX_COLUMN_NAME = 255
# The catalog's SQLite metadata keeps small tables inline, 3 columns of its own + ours,
# and SQLite allows 2000 columns per table.
MAX_COLUMNS = 1997


@dataclass
class Loaded:
    """A file's rows as Arrow, with where each row came from (for error messages)."""

    table: pa.Table
    format: str
    where: list[str]  # per row: "line 3", "item 2", "row 7"
    path: str
    sha256: str = ""  # of the file's bytes as read, for lineage


@dataclass
class Source:
    """A file to read: where it is, its format, and how its cells become values."""

    path: Path
    label: str
    format: str
    delimiter: str = ","
    infer_types: bool = False
    schema: dict[str, Any] | None = None
    schema_name: str = ""
    converters: dict[str, formats.Converter] = field(default_factory=dict)


class IdIndex:
    """Row ids seen so far at 8 bytes each (a digest); repeats are found at the end."""

    def __init__(self) -> None:
        self.digests = array("q")

    def add(self, value: Any) -> None:
        digest = hashlib.blake2b(str(value).encode(), digest_size=8).digest()
        self.digests.append(int.from_bytes(digest, "little", signed=True))

    def repeated(self) -> set[int]:
        """Ordinals of the rows whose id digest occurs more than once."""
        import pyarrow.compute as pc

        if not self.digests:
            return set()
        digests = pa.Array.from_buffers(
            pa.int64(), len(self.digests), [None, pa.py_buffer(self.digests)]
        )
        counts = pc.value_counts(digests)
        repeats = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        if len(repeats) == 0:
            return set()
        return set(pc.indices_nonzero(pc.is_in(digests, value_set=repeats)).to_pylist())


@dataclass
class Scan:
    """What the first pass learned: row count, column types, whether rows carry ids."""

    rows: int = 0
    schema: pa.Schema = field(default_factory=lambda: pa.schema([]))
    has_ids: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # lower-case name -> name
    kinds: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # family, kind, where
    ids: IdIndex = field(default_factory=IdIndex)
    candidates: dict[str, list[formats.Converter]] = field(default_factory=dict)


# -- public API -----------------------------------------------------------------------
def read_file(
    path: str | Path, format: str | None = None, *, infer_types: bool = False
) -> pa.Table:
    """Read a feedback file into an Arrow table (format from the extension, else sniffed)."""
    return load(path, format, infer_types=infer_types).table


def load(path: str | Path, format: str | None = None, *, infer_types: bool = False) -> Loaded:
    """Read and check a whole file into memory (build inputs); imports stream instead."""
    source = open_source(path, format, infer_types=infer_types)
    scan = scan_source(source)
    tables, where = [], []
    for table, chunk_where in converted_chunks(source, scan, with_ids=False):
        tables.append(table)
        where.extend(chunk_where)
    table = pa.concat_tables(tables) if tables else scan.schema.empty_table()
    return Loaded(table, _loaded_format(source), where, source.label, file_sha256(source.path))


def import_file(
    catalog: Catalog,
    path: str | Path,
    name: str,
    *,
    format: str | None = None,
    schema: str | None = None,
    command: str | None = None,
    infer_types: bool = False,
) -> VersionInfo:
    """Import a file as the next version of ``name``; lineage records path and sha256."""
    from datagen.catalog import BuildInfo, check_name

    check_name(name)
    source = open_source(path, format, infer_types=infer_types)
    if schema:
        _use_schema(source, schema)
    scan = scan_source(source)
    lineage = {
        "kind": "file",
        "path": str(source.path.resolve()),
        "sha256": file_sha256(source.path),
        "format": _loaded_format(source),
        "rows": scan.rows,
    }
    build = BuildInfo(generator="import", inputs=[lineage], command=command)
    with catalog.writer(name, build=build) as writer:
        for table, _ in converted_chunks(source, scan, with_ids=True):
            writer.write_rows(table)
        version = writer.commit({"rows": scan.rows})
    return catalog.resolve(f"{name}@{version}")


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
        check_column_names(table.column_names, name)
        table = with_row_ids(table, [f"row {i + 1}" for i in range(table.num_rows)], name)
    build = BuildInfo(generator="import", inputs=[source], command=command)
    with catalog.writer(name, build=build) as writer:
        writer.write_rows(table)
        version = writer.commit({"rows": table.num_rows})
    return catalog.resolve(f"{name}@{version}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(formats.READ_SIZE):
            digest.update(block)
    return digest.hexdigest()


# -- sources ------------------------------------------------------------------------------
def open_source(path: str | Path, format: str | None, *, infer_types: bool = False) -> Source:
    path = Path(path)
    label = str(path)
    if not path.is_file():
        raise InvalidInput("no such file", path=label)
    if format is not None and format not in FORMATS:
        raise InvalidInput(f"unknown format {format!r}; allowed: {', '.join(FORMATS)}", path=label)
    plain = path.with_suffix("") if formats.is_gzip(path) else path
    with formats.open_bytes(path, label) as stream:
        head = stream.read(4096)
        blank = not head.strip() and _blank_rest(stream)
    if blank:
        raise InvalidInput(f"empty file; {_EXPECTED}", path=label)
    fmt = format or _detect(plain, head)
    delimiter = "\t" if plain.suffix.lower() == ".tsv" else ","
    if fmt == "json" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"[":
        fmt = "jsonl"
    return Source(path, label, fmt, delimiter, infer_types)


def _blank_rest(stream: Any) -> bool:
    while block := stream.read(formats.READ_SIZE):
        if block.strip():
            return False
    return True


def _loaded_format(source: Source) -> str:
    return source.format


def _detect(path: Path, head: bytes) -> str:
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix:
        return by_suffix
    if head[:4] == b"PAR1":
        return "parquet"
    first = head.lstrip()[:1]
    if first == b"[":
        return "json"
    if first == b"{":
        return "jsonl"
    return "csv"


def _use_schema(source: Source, name: str) -> None:
    from datagen.validation import RowValidator

    document = schema_document(name)
    source.schema = document
    source.schema_name = name
    RowValidator.checked(document, name)  # an invalid schema is refused before reading
    if source.format == "csv":
        source.converters = _schema_converters(document)


def _schema_converters(document: dict[str, Any]) -> dict[str, formats.Converter]:
    """CSV columns the schema types as integer, number or boolean."""
    found = {}
    for name, spec in (document.get("properties") or {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
        if kind in formats.SCHEMA_CONVERTERS:
            found[name] = formats.SCHEMA_CONVERTERS[kind]
    return found


def _records(source: Source, converters: dict[str, formats.Converter]) -> Iterator[Any]:
    with formats.open_bytes(source.path, source.label) as stream:
        if source.format == "csv":
            yield from formats.csv_records(stream, source.label, source.delimiter, converters)
        elif source.format == "json":
            yield from formats.json_array_records(stream, source.label)
        else:
            yield from formats.jsonl_records(stream, source.label)


def _chunks(source: Source, converters: dict[str, formats.Converter]) -> Iterator[Any]:
    """Lists of (record, where), each at most CHUNK_ROWS rows of about CHUNK_BYTES."""
    records: list[dict[str, Any]] = []
    where: list[str] = []
    size = 0
    for record, place in _records(source, converters):
        records.append(record)
        where.append(place)
        size += _rough_size(record)
        if len(records) >= CHUNK_ROWS or size >= CHUNK_BYTES:
            yield records, where
            records, where, size = [], [], 0
    if records:
        yield records, where


def _rough_size(record: dict[str, Any]) -> int:
    return sum(len(v) if isinstance(v, str) else 64 for v in record.values()) + 16 * len(record)


# -- pass 1: scan ---------------------------------------------------------------------------
def scan_source(source: Source) -> Scan:
    """Check every record and settle the column types, a chunk at a time."""
    if source.format == "parquet":
        return _scan_parquet(source)
    scan = Scan()
    validator = _validator(source)
    for records, where in _chunks(source, source.converters):
        for record, place in zip(records, where, strict=True):
            _scan_record(scan, record, place, source)
            if validator is not None:
                _validate_record(validator, record, place, source)
        if source.format != "csv":
            scan.schema = _unified(scan.schema, _chunk_table(records, where, source).schema)
        scan.rows += len(records)
    if scan.rows == 0:
        raise InvalidInput(f"no rows in file; {_EXPECTED}", path=source.label)
    _check_unique_ids(scan, source)
    if source.format == "csv":
        scan.schema = _csv_schema(scan, source)
    return scan


def _scan_record(scan: Scan, record: dict[str, Any], where: str, source: Source) -> None:
    for name, value in record.items():
        if name not in scan.kinds:
            _new_column(scan, name, where, source)
        if value is not None:
            _check_kind(scan, name, value, where, source.label)
        if name in scan.candidates and isinstance(value, str) and value != "":
            scan.candidates[name] = [c for c in scan.candidates[name] if _converts(c, value)]
    if "id" in record:
        scan.has_ids = True
        _check_id(scan, record["id"], where, source.label)


def _new_column(scan: Scan, name: str, where: str, source: Source) -> None:
    problem = column_name_problem(name)
    if problem:
        raise InvalidInput(f"{where}: column {name!r} {problem}", path=source.label)
    twin = scan.columns.get(name.lower())
    if twin is not None and twin != name:
        raise InvalidInput(
            f"{where}: columns {twin!r} and {name!r} differ only in case; "
            "SQL names ignore case, rename one",
            path=source.label,
        )
    scan.columns[name.lower()] = name
    scan.kinds[name] = ("", "", where)
    if len(scan.kinds) > MAX_COLUMNS - ("id" not in scan.kinds):
        raise InvalidInput(
            f"{where}: more than {MAX_COLUMNS} columns; the catalog stores at most "
            f"{MAX_COLUMNS} per dataset", path=source.label
        )
    if source.infer_types and source.format == "csv" and name not in source.converters:
        scan.candidates[name] = list(formats.INFERRED_CONVERTERS)


def _check_kind(scan: Scan, name: str, value: Any, where: str, label: str) -> None:
    kind = formats.json_kind(value)
    family = "number" if kind == "integer" else kind
    first_family, first_kind, first_where = scan.kinds[name]
    if not first_family:
        scan.kinds[name] = (family, kind, where)
    elif family != first_family:
        raise InvalidInput(
            f"field {name!r} has inconsistent types: {first_kind} at {first_where}, "
            f"{kind} at {where}",
            path=label,
        )


def _check_id(scan: Scan, value: Any, where: str, label: str) -> None:
    if value is None or value == "":
        raise InvalidInput(f"{where}: empty 'id'", path=label)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidInput(
            f"{where}: column 'id' must hold strings or integers, found "
            f"{formats.json_kind(value)}",
            path=label,
        )
    scan.ids.add(value)


def _check_unique_ids(scan: Scan, source: Source) -> None:
    """Digest repeats are confirmed on the actual ids (read again, only for those rows)."""
    suspects = scan.ids.repeated()
    if not suspects:
        return
    places = (_parquet_ids(source) if source.format == "parquet"
              else ((r.get("id"), w) for r, w in _records(source, source.converters)))
    found = [(value, where) for ordinal, (value, where) in enumerate(places)
             if ordinal in suspects]
    _first_duplicate([v for v, _ in found], [w for _, w in found], source.label)


def _first_duplicate(values: list[Any], where: list[str], label: str) -> None:
    first_seen: dict[str, int] = {}
    for index, value in enumerate(values):
        key = str(value)
        if key in first_seen:
            raise InvalidInput(
                f"duplicate id {key!r} ({where[first_seen[key]]} and {where[index]}); "
                "ids must be unique",
                path=label,
            )
        first_seen[key] = index


def _converts(convert: formats.Converter, value: str) -> bool:
    try:
        convert(value)
    except ValueError:
        return False
    return True


def _csv_schema(scan: Scan, source: Source) -> pa.Schema:
    """Text columns, except those a schema types or that ``infer_types`` proved exact."""
    types: dict[Any, Any] = {formats.schema_int: pa.int64(), formats.exact_int: pa.int64(),
             formats.schema_float: pa.float64(), formats.exact_float: pa.float64(),
             formats.schema_bool: pa.bool_(), formats.exact_bool: pa.bool_()}
    fields = []
    for name in scan.kinds:
        convert = source.converters.get(name)
        found = scan.candidates.get(name)
        if convert is None and found and scan.kinds[name][0]:
            convert = found[0]
            source.converters[name] = convert
        fields.append(pa.field(name, types[convert] if convert else pa.string()))
    return pa.schema(fields)


def column_name_problem(name: str) -> str | None:
    """Why a column name cannot be stored and queried back, or None."""
    if name.strip() == "":
        return "has no name (empty column names cannot be queried)"
    if "\x00" in name:
        return "contains a NUL character"
    if len(name) > MAX_COLUMN_NAME:
        return f"is longer than {MAX_COLUMN_NAME} characters"
    return None


def check_column_names(names: list[str], label: str) -> None:
    if len(names) > MAX_COLUMNS:
        raise InvalidInput(
            f"{len(names)} columns; the catalog stores at most {MAX_COLUMNS} per dataset",
            path=label,
        )
    seen: dict[str, str] = {}
    for name in names:
        problem = column_name_problem(name)
        if problem:
            raise InvalidInput(f"column {name!r} {problem}", path=label)
        twin = seen.setdefault(name.lower(), name)
        if twin != name:
            raise InvalidInput(
                f"columns {twin!r} and {name!r} differ only in case; rename one", path=label
            )


def _unified(known: pa.Schema, new: pa.Schema) -> pa.Schema:
    try:
        return pa.unify_schemas([known, new], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"values of one field have incompatible types: {exc}") from None


def _chunk_table(records: list[dict[str, Any]], where: list[str], source: Source,
                 schema: pa.Schema | None = None) -> pa.Table:
    from datagen.catalog.arrowutil import normalize

    try:
        if schema is not None:
            table = pa.Table.from_pylist(records, schema=schema)
        else:  # every key of every record, in order of first appearance
            names = dict.fromkeys(k for record in records for k in record)
            table = pa.table({n: pa.array([r.get(n) for r in records]) for n in names})
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        column = _first_bad_column(records, schema)
        raise InvalidInput(
            f"{where[0]}..{where[-1]}: field {column!r}: values cannot be stored ({exc})",
            path=source.label,
        ) from None
    return normalize(table) if schema is None else table


def _first_bad_column(records: list[dict[str, Any]], schema: pa.Schema | None) -> str:
    for name in dict.fromkeys(k for r in records for k in r):
        kind = schema.field(name).type if schema is not None else None
        try:
            pa.array([r.get(name) for r in records], type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return name
    return "?"


# -- pass 2: convert ------------------------------------------------------------------------
def converted_chunks(source: Source, scan: Scan, *, with_ids: bool) -> Iterator[Any]:
    """(Arrow table, where) per chunk, with the scan's column types (and row ids)."""
    if source.format == "parquet":
        yield from _parquet_chunks(source, scan, with_ids)
        return
    content_ids: dict[str, int] = {}
    for records, where in _chunks(source, source.converters):
        table = _chunk_table(records, where, source, scan.schema)
        if with_ids:
            table = _add_ids(table, scan, content_ids)
        yield table, where


def _add_ids(table: pa.Table, scan: Scan, seen: dict[str, int]) -> pa.Table:
    """The ``id`` column (as text) or a stable content hash, as the first column."""
    if scan.has_ids:
        ids = table.column("id").cast(pa.string())
        table = table.drop_columns(["id"])
    else:
        ids = pa.array(_content_ids(table, seen), pa.string())
    return table.add_column(0, "id", ids)


def _content_ids(table: pa.Table, seen: dict[str, int]) -> list[str]:
    """A stable id from each row's content; repeated rows get an occurrence suffix."""
    import json

    ids = []
    for row in table.to_pylist():
        blob = json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        ids.append(digest if count == 0 else f"{digest}-{count}")
    return ids


def with_row_ids(table: pa.Table, where: list[str], label: str) -> pa.Table:
    """Use the ``id`` column (unique strings/ints) or a stable content hash, as column 1."""
    scan = Scan(has_ids="id" in table.column_names)
    if scan.has_ids:
        _check_id_type(table.column("id").type, label)
        values = table.column("id").to_pylist()
        for value, place in zip(values, where, strict=True):
            _check_id(scan, value, place, label)
        _first_duplicate(values, where, label)
    return _add_ids(table, scan, {})


def _check_id_type(kind: pa.DataType, label: str) -> None:
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_integer(kind)):
        raise InvalidInput(f"column 'id' must hold strings or integers, found {kind}", path=label)


# -- Parquet --------------------------------------------------------------------------------
def _parquet_file(source: Source) -> Any:
    import pyarrow.parquet as pq

    try:
        if formats.is_gzip(source.path):
            with formats.open_bytes(source.path, source.label) as stream:
                return pq.ParquetFile(io.BytesIO(stream.read()))
        return pq.ParquetFile(source.path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"not a readable Parquet file: {exc}", path=source.label) from None


def _parquet_batches(source: Source) -> Iterator[pa.Table]:
    from datagen.catalog.arrowutil import normalize

    parquet = _parquet_file(source)
    try:
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            table = pa.Table.from_batches([batch]).replace_schema_metadata(None)
            yield normalize(table)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"not a readable Parquet file: {exc}", path=source.label) from None


def _scan_parquet(source: Source) -> Scan:
    scan = Scan()
    validator = _validator(source)
    for table in _parquet_batches(source):
        if scan.rows == 0:
            check_column_names(table.column_names, source.label)
            scan.schema = table.schema
            scan.has_ids = "id" in table.column_names
        where = [f"row {scan.rows + i + 1}" for i in range(table.num_rows)]
        _check_floats(table, where, source.label)
        if scan.has_ids:
            _check_id_type(table.column("id").type, source.label)
            for value, place in zip(table.column("id").to_pylist(), where, strict=True):
                _check_id(scan, value, place, source.label)
        if validator is not None:
            for record, place in zip(table.to_pylist(), where, strict=True):
                _validate_record(validator, record, place, source)
        scan.rows += table.num_rows
    if scan.rows == 0:
        raise InvalidInput("no rows in Parquet file", path=source.label)
    _check_unique_ids(scan, source)
    return scan


def _check_floats(table: pa.Table, where: list[str], label: str) -> None:
    """NaN and infinities cannot be exported as JSON: refuse them at the door."""
    import pyarrow.compute as pc

    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_floating(column.type):
            continue
        bad = pc.or_(pc.is_nan(column), pc.is_inf(column))
        index = pc.index(bad, True).as_py()
        if index >= 0:
            raise InvalidInput(
                f"{where[index]}: field {name!r} is {column[index].as_py()}, which JSON "
                "cannot hold; replace it with null or a number",
                path=label,
            )


def _parquet_ids(source: Source) -> Iterator[tuple[Any, str]]:
    rows = 0
    for table in _parquet_batches(source):
        for value in table.column("id").to_pylist():
            rows += 1
            yield value, f"row {rows}"


def _parquet_chunks(source: Source, scan: Scan, with_ids: bool) -> Iterator[Any]:
    rows = 0
    content_ids: dict[str, int] = {}
    for table in _parquet_batches(source):
        where = [f"row {rows + i + 1}" for i in range(table.num_rows)]
        rows += table.num_rows
        yield (_add_ids(table, scan, content_ids) if with_ids else table), where


# -- schemas ----------------------------------------------------------------------------------
def schema_document(schema: str) -> dict[str, Any]:
    """A JSON schema by name (from the catalogs folders) or by file path."""
    import json

    from datagen.validation import load_schema

    path = Path(schema)
    if schema.endswith(".json"):
        if not path.is_file():
            raise InvalidInput("no such schema file", path=schema)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise InvalidInput(f"invalid JSON schema: {exc}", path=schema) from None
        if not isinstance(document, dict):
            raise InvalidInput("invalid JSON schema: expected a JSON object", path=schema)
        return document
    return load_schema(schema)


def _validator(source: Source) -> Any:
    from datagen.validation import RowValidator

    if source.schema is None:
        return None
    return RowValidator.checked(source.schema, source.schema_name)


def _validate_record(validator: Any, record: dict[str, Any], where: str, source: Source) -> None:
    problem = validator.problem(record)
    if problem is not None:
        raise InvalidInput(
            f"{where}: field {problem} (schema {source.schema_name})", path=source.label
        )


def validate(
    table: pa.Table, document: dict[str, Any], schema: str, where: list[str], label: str
) -> None:
    """Check every row against a JSON schema; the first bad row names its line and field."""
    from datagen.validation import RowValidator

    validator = RowValidator.checked(document, schema)
    for index, row in enumerate(table.to_pylist()):
        problem = validator.problem(row)
        if problem is not None:
            raise InvalidInput(f"{where[index]}: field {problem} (schema {schema})", path=label)


# -- records -> Arrow ---------------------------------------------------------------------
def records_to_table(records: list[dict[str, Any]], where: list[str], label: str) -> pa.Table:
    """Build one Arrow table from records; mixed types name the field and two locations."""
    scan = Scan()
    source = Source(Path(label), label, "jsonl")
    for record, place in zip(records, where, strict=True):
        _scan_record(scan, record, place, source)
    return _chunk_table(records, where, source)
