"""Dataset commands: ``import``, ``datasets``, ``show``, ``log``, ``diff``, ``export``, ``sql``.

Each command parses its arguments, calls the catalog API and prints; every error is a
``DatagenError`` that the CLI turns into one line and an exit code.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import pyarrow as pa

    from datagen.catalog import Catalog

OUTPUT_FORMATS = ("table", "csv", "json")
CELL_WIDTH = 48
# Control characters (ESC starts terminal escape sequences) are shown, never sent raw.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with control characters written as ``\\xNN`` (safe to print to a terminal)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# -- output helpers ----------------------------------------------------------------------
def _cell(value: Any, width: int = CELL_WIDTH) -> str:
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = visible(text.replace("\r", "").replace("\n", "\\n").replace("\t", " "))
    return text if len(text) <= width else text[: width - 3] + "..."


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table; numbers right-aligned, long cells cut."""
    header = [_cell(c, width=10_000) for c in columns]
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(c) for c in header]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        bool(rows) and all(isinstance(r[i], (int, float)) or r[i] is None for r in rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def render_arrow(table: pa.Table, fmt: str, max_rows: int | None = None) -> str:
    """An Arrow result as a text table, CSV or a JSON array."""
    columns = table.column_names
    shown = table if max_rows is None or fmt != "table" else table.slice(0, max_rows)
    records = shown.to_pylist()
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, default=_json_default, indent=1)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for record in records:
            writer.writerow([_csv_value(record[c]) for c in columns])
        return buffer.getvalue().rstrip("\n")
    text = render_table(columns, [[r[c] for c in columns] for r in records])
    hidden = table.num_rows - shown.num_rows
    if hidden:
        text += f"\n({hidden} more rows; use --max-rows or --format csv|json to see all)"
    return text


def echo_stream(reader: pa.RecordBatchReader, fmt: str, max_rows: int) -> None:
    """Print a query result, reading only the rows that are shown.

    Table output reads ``max_rows`` + 1 rows (the extra one says whether more exist);
    CSV and JSON are written a batch at a time.
    """
    if fmt == "table":
        import pyarrow as pa

        batches, seen = [], 0
        for batch in reader:
            batches.append(batch)
            seen += batch.num_rows
            if seen > max_rows:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema)
        text = render_arrow(table.slice(0, max_rows), "table")
        if seen > max_rows:
            text += "\n(more rows; use --max-rows or --format csv|json to see all)"
        click.echo(text)
    elif fmt == "csv":
        _echo_csv(reader)
    else:
        _echo_json(reader)


def _echo_csv(reader: pa.RecordBatchReader) -> None:
    columns = reader.schema.names
    tty = sys.stdout.isatty()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for batch in reader:
        for record in batch.to_pylist():
            row = [_csv_value(record[c]) for c in columns]
            writer.writerow([visible(v) if tty and isinstance(v, str) else v for v in row])
        click.echo(buffer.getvalue(), nl=False)
        buffer.seek(0)
        buffer.truncate()
    click.echo(buffer.getvalue(), nl=False)


def _echo_json(reader: pa.RecordBatchReader) -> None:
    click.echo("[", nl=False)
    first = True
    for batch in reader:
        for record in batch.to_pylist():
            text = json.dumps(record, ensure_ascii=False, default=_json_default, indent=1)
            click.echo(("\n" if first else ",\n") + text, nl=False)
            first = False
    click.echo("\n]" if not first else "]")


def _json_default(value: Any) -> Any:
    """Decimals (DuckDB's sum of integers) as numbers; dates and others as text."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _csv_value(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else value


def _open() -> Catalog:
    from datagen.catalog import Catalog

    return Catalog.open()


def _command_line() -> str:
    return shlex.join(["datagen", *sys.argv[1:]])


# -- commands ------------------------------------------------------------------------------
@click.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("-n", "--name", required=True, help="Dataset name: a-z 0-9 . _ - (max 64).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "json", "csv", "parquet"]),
    help="File format (default: from the extension, else sniffed).",
)
@click.option("--schema", help="Validate every row against a record schema (name or .json file).")
@click.option(
    "--infer-types",
    is_flag=True,
    help="CSV: store a column as numbers or booleans when every cell is exactly such a "
    "value (007 and 1.50 stay text). Default: every CSV cell is text.",
)
def import_(path: str, name: str, fmt: str | None, schema: str | None, infer_types: bool) -> None:
    """Import a feedback file as the next version of dataset NAME.

    PATH is JSON Lines, a JSON array of objects, CSV with a header, or Parquet
    (optionally gzipped). Row ids come from the file's `id` column (unique strings or
    integers) or else from a hash of each row. Importing again creates a new version.
    Values are stored as they are: CSV cells stay text unless --infer-types or a
    --schema gives a column a type.
    """
    from datagen.readers import import_file

    with _open() as cat:
        info = import_file(
            cat, path, name, format=fmt, schema=schema, command=_command_line(),
            infer_types=infer_types,
        )
    click.echo(f"Imported {info.rows} rows from {path} as {info.ref}")


output_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(OUTPUT_FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)


@click.command("datasets")
@output_format
def datasets(fmt: str) -> None:
    """List datasets with their latest version, row count and creation time (UTC)."""
    with _open() as cat:
        found = cat.datasets()
    if not found and fmt == "table":
        click.echo("No datasets yet. Import one: datagen import FILE --name NAME")
        return
    _echo_records(
        ["name", "version", "rows", "created_at"],
        [[d.name, d.version, d.rows, d.created_at] for d in found],
        fmt,
    )


@click.command("show")
@click.argument("ref", metavar="NAME[@V]")
@click.option(
    "--rows",
    "n_rows",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="How many rows to show.",
)
def show(ref: str, n_rows: int) -> None:
    """Show a version: lineage, schema, steps, all versions and a few rows."""
    with _open() as cat:
        info = cat.resolve(ref)
        schema = cat.schema(info.ref)
        steps = cat.steps(info.ref)
        versions = cat.versions(info.dataset)
        preview = cat.head(info.ref, n_rows)
    build = info.build
    click.echo(f"{info.ref}: {info.rows} rows, created {_cell(info.created_at)} UTC")
    click.echo(
        f"build:     {info.build_id} ({build.get('status', '?')}, "
        f"{build.get('seconds') or 0:.1f} s)"
    )
    click.echo(
        f"generator: {build.get('generator') or '-'}"
        f"{' ' + build['generator_version'] if build.get('generator_version') else ''}"
        f"   recipe: {build.get('recipe') or '-'}"
    )
    for source in build.get("inputs") or []:
        click.echo(f"input:     {_describe_input(source)}")
    for model, roles in _models_and_roles(build.get("models") or []):
        click.echo(f"model:     {model}" + (f"  ({roles})" if roles else ""))
    if build.get("options"):
        click.echo(f"options:   {_cell(build['options'], 200)}")
    click.echo(f"versions:  {', '.join(str(v.version) for v in versions)}")
    if steps:
        click.echo(f'steps:     {", ".join(steps)}  (query as "{info.ref}/STEP")')
    click.echo("\nschema:")
    click.echo(render_table(["column", "type"], schema))
    if n_rows:
        click.echo(f"\nfirst {preview.num_rows} rows:")
        click.echo(render_arrow(preview, "table"))


def _models_and_roles(models: list[Any]) -> list[tuple[str, str]]:
    """One line per distinct model (spec, model name, license, short identity) and the roles
    it served in the build, e.g. ``agents x4, judge``."""
    roles: dict[str, dict[str, int]] = {}
    for model in models:
        if isinstance(model, dict):
            identity = str(model.get("identity", ""))[:19]
            text = " ".join(
                str(part) for part in (model.get("spec"), model.get("model"),
                                       model.get("license"), identity) if part
            )
            role = str(model.get("role") or "")
        else:
            text, role = str(model), ""
        served = roles.setdefault(text, {})
        if role:
            served[role] = served.get(role, 0) + 1
    return [
        (text, ", ".join(f"{r} x{n}" if n > 1 else r for r, n in served.items()))
        for text, served in roles.items()
    ]


def _describe_input(source: dict[str, Any]) -> str:
    kind = source.get("kind", "")
    if kind == "file":
        digest = str(source.get("sha256", ""))[:16]
        return f"file {source.get('path')} (sha256 {digest}...)"
    if kind == "dataset":
        return f"dataset {source.get('name')}@{source.get('version')}"
    return _cell(source, 200)


@click.command("log")
@click.argument("name")
@click.option("--failed", is_flag=True, help="Also list builds of NAME that failed.")
@output_format
def log(name: str, failed: bool, fmt: str) -> None:
    """List the versions of dataset NAME with their build metadata."""
    from datagen.catalog import check_name

    check_name(name)
    columns = [
        "version",
        "created_at",
        "rows",
        "status",
        "generator",
        "recipe",
        "seconds",
        "build_id",
        "command",
    ]
    with _open() as cat:
        versions = _versions_or_none(cat, name) if failed else cat.versions(name)
        rows = [
            [
                v.version,
                v.created_at,
                v.rows,
                v.build.get("status"),
                v.build.get("generator"),
                v.build.get("recipe"),
                v.build.get("seconds"),
                v.build_id,
                v.build.get("command"),
            ]
            for v in versions
        ]
        if failed:
            rows += [
                [
                    None,
                    b["finished_at"],
                    None,
                    b["status"],
                    b["generator"],
                    b["recipe"],
                    b["seconds"],
                    b["build_id"],
                    b["error"],
                ]
                for b in cat.records("builds", dataset=name, status="failed")
            ]
    _echo_records(columns, rows, fmt)


def _versions_or_none(cat: Catalog, name: str) -> list[Any]:
    """The versions of ``name``; none (not an error) if it only has failed builds."""
    from datagen.errors import NotFound

    try:
        return cat.versions(name)
    except NotFound:
        if cat.records("builds", dataset=name, status="failed"):
            return []
        raise


@click.command("diff")
@click.argument("a", metavar="NAME@A")
@click.argument("b", metavar="NAME@B")
@click.option(
    "--ids",
    "sample",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="How many ids to list per kind of change.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def diff(a: str, b: str, sample: int, as_json: bool) -> None:
    """Compare two versions by row id: rows added, removed and changed."""
    from dataclasses import asdict

    with _open() as cat:
        result = cat.diff(a, b, sample=sample)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=1))
        return
    click.echo(f"{result.a} -> {result.b}")
    for kind, count, ids in (
        ("added", result.added, result.added_ids),
        ("removed", result.removed, result.removed_ids),
        ("changed", result.changed, result.changed_ids),
    ):
        more = "" if len(ids) >= count else ", ..."
        listed = f"  ({', '.join(ids)}{more})" if ids else ""
        click.echo(f"  {kind + ':':<10} {count}{listed}")
    click.echo(f"  {'unchanged:':<10} {result.unchanged}")
    if result.columns_added:
        click.echo(f"  columns added:   {', '.join(result.columns_added)}")
    if result.columns_removed:
        click.echo(f"  columns removed: {', '.join(result.columns_removed)}")


@click.command("export")
@click.argument("ref", metavar="NAME[@V]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "jsonl"]),
    help="Output format (default: from the output's extension, else parquet).",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="File to write."
)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def export(ref: str, fmt: str | None, output: str, force: bool) -> None:
    """Write one version of a dataset to a Parquet or JSON Lines file.

    The file appears only once complete (written beside it, then renamed); an existing
    file is replaced only with --force; paths inside DATAGEN_HOME are refused.
    """
    chosen = fmt or ("jsonl" if output.endswith((".jsonl", ".json", ".ndjson")) else "parquet")
    with _open() as cat:
        info = cat.resolve(ref)
        path = cat.export(info.ref, output, chosen, force=force)
    click.echo(f"Wrote {info.ref} ({info.rows} rows) to {path}")


@click.command("sql")
@click.argument("query")
@output_format
@click.option(
    "--write",
    "writable",
    is_flag=True,
    help="Allow statements that change the catalog (read-only by default).",
)
@click.option(
    "--max-rows",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="Rows shown in table format.",
)
def sql(query: str, fmt: str, writable: bool, max_rows: int) -> None:
    """Run DuckDB SQL over the catalog.

    Every dataset is a view by its name (latest version, quote names with '-'),
    every version is "NAME@V", step tables are "NAME@V/STEP" and "NAME/STEP".
    Also there: builds, failures, versions, steps, models, publications.

    Read-only queries run on a connection that cannot write or reach files outside
    the catalog; --write runs in one transaction that may not change system tables.

    Example: datagen sql 'SELECT count(*) FROM "critique-sft@1"'
    """
    import pyarrow as pa

    with _open() as cat:
        if writable:
            result = cat.sql(query, writable=True)
            reader = pa.RecordBatchReader.from_batches(result.schema, result.to_batches())
        else:
            reader = cat.sql_reader(query)
        echo_stream(reader, fmt, max_rows)


def _echo_records(columns: list[str], rows: list[list[Any]], fmt: str) -> None:
    if fmt == "table":
        click.echo(render_table(columns, rows))
        return
    import pyarrow as pa

    table = pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows])
    if not rows:
        table = pa.table({c: pa.array([], pa.string()) for c in columns})
    click.echo(render_arrow(table, fmt))


@click.group("catalog")
def catalog() -> None:
    """Manage where the catalog lives (local, or shared on PostgreSQL + object storage)."""


@catalog.command("migrate")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="postgres:CONNINFO",
    help="The shared catalog's PostgreSQL connection (put the password in PGPASSWORD).",
)
@click.option("--data", required=True, metavar="s3://BUCKET/PREFIX", help="Where its files go.")
def migrate(target: str, data: str) -> None:
    """Copy the local catalog (every version, build, failure, model, metric, review)
    into an empty shared catalog, in one transaction; the local one is only read.

    The object store's endpoint and credentials come from the AWS_* variables.

    Example: datagen catalog migrate --to 'postgres:dbname=lake host=db' --data s3://b/lake
    """
    from datagen.catalog.store import parse_store
    from datagen.catalog.transfer import migrate_catalog

    store = parse_store(target, data)
    report = migrate_catalog(None, store)
    click.echo(
        f"copied {report.datasets} datasets ({report.versions} versions, {report.builds} "
        f"builds, {report.tables} tables) to {store.describe()}"
    )


COMMANDS = [import_, datasets, show, log, diff, export, sql, catalog]
