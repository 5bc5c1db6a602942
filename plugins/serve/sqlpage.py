"""The SQL box: read-only SQL through the catalog, shown as a table or downloaded."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from datagen.errors import CatalogError, UsageError
from datagen_plugins.serve.app import Response
from datagen_plugins.serve.html import layout, link, short, table, tag, url

if TYPE_CHECKING:
    import pyarrow as pa

    from datagen_plugins.serve.app import App, Request

SHOWN_ROWS = 500
FORMATS = ("csv", "jsonl", "parquet")
EXAMPLE = "SELECT dataset, version, rows, created_at FROM versions ORDER BY created_at DESC"


def run_query(app: App, query: str) -> pa.Table:
    """Read-only SQL: only SELECT/EXPLAIN/PRAGMA, on a read-only attachment."""
    if not query.strip():
        raise UsageError("empty SQL query")
    with app.sql_lock:
        return app.catalog.sql(query, writable=False)


def first_rows(app: App, query: str, limit: int = SHOWN_ROWS) -> tuple[pa.Table, bool]:
    """The first ``limit`` rows of a read-only query, and whether there are more."""
    import pyarrow as pa

    if not query.strip():
        raise UsageError("empty SQL query")
    with app.sql_lock:
        reader = app.catalog.sql_reader(query)
        batches, seen = [], 0
        for batch in reader:
            batches.append(batch)
            seen += batch.num_rows
            if seen > limit:
                break
        reader.close()
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return table.slice(0, limit), seen > limit


def sql_page(app: App, request: Request) -> Response:
    query = request.param("q")
    result, error = None, None
    if query:
        try:
            result = first_rows(app, query)
        except (CatalogError, UsageError) as exc:
            error = str(exc).replace("; use --write / writable=True", "")
    form = tag("form", tag("textarea", query or EXAMPLE, name="q", id="sql", rows=5),
               tag("button", "run (ctrl+enter)", type="submit"), method="get", action="/sql")
    body: list[Any] = [form, tag("p", "Read-only: every dataset is a table by its name, "
                                 'each version is "NAME@V" and each step "NAME@V/STEP"; also '
                                 "builds, failures, versions, steps, reviews.", class_="hint")]
    if error:
        body.append(tag("p", error, class_="error", id="sql-error"))
    if result is not None:
        body += [_downloads(query), _result_table(result)]
    return Response.html(layout("SQL", body, csrf=app.csrf), 400 if error else 200)


def _downloads(query: str) -> Any:
    links = [link(fmt, url("sql", "download", q=query, format=fmt)) for fmt in FORMATS]
    return tag("p", "download: ", [[item, " "] for item in links], class_="downloads")


def _result_table(first: tuple[pa.Table, bool]) -> Any:
    result, more = first
    shown = result.to_pylist()
    columns = result.column_names
    note = tag("p", f"first {SHOWN_ROWS} rows shown; download for all" if more
               else f"{result.num_rows} rows", class_="count")
    return [note, table(columns, [[short(r[c], 200) for c in columns] for r in shown],
                        class_="rows", id="sql-result")]


def download(app: App, request: Request) -> Response:
    fmt = request.param("format", "csv")
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    result = run_query(app, request.param("q"))
    body, kind = WRITERS[fmt](result)
    disposition = {"Content-Disposition": f'attachment; filename="query.{fmt}"'}
    return Response(200, body, kind, disposition)


def _csv(result: pa.Table) -> tuple[bytes, str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.column_names)
    for record in result.to_pylist():
        writer.writerow([_plain(v) for v in record.values()])
    return buffer.getvalue().encode(), "text/csv; charset=utf-8"


def _jsonl(result: pa.Table) -> tuple[bytes, str]:
    lines = [json.dumps(r, ensure_ascii=False, default=str) for r in result.to_pylist()]
    return ("\n".join(lines) + ("\n" if lines else "")).encode(), "application/x-ndjson"


def _parquet(result: pa.Table) -> tuple[bytes, str]:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(result, buffer, compression="zstd")
    return buffer.getvalue(), "application/vnd.apache.parquet"


def _plain(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else value


WRITERS = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet}
