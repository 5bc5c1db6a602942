"""Paginated reads for the web app: only the rows shown, with bound parameters.

Identifiers are always quoted with ``quote_ident``; values always travel as parameters.
Filters name a column of the version's schema and an operator from ``OPERATORS``.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datagen.catalog import SYSTEM_TABLES
from datagen.errors import UsageError

if TYPE_CHECKING:
    from datagen.catalog import Catalog

_SIMPLE_TYPE = re.compile(r"^[A-Z][A-Z0-9_ ]*(\([0-9, ]+\))?$")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
OPERATORS = {
    "eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
    "contains": "contains", "null": "is null", "notnull": "is not null",
}


def quote_ident(name: str) -> str:
    """A SQL identifier in double quotes, with embedded quotes doubled."""
    return '"' + str(name).replace('"', '""') + '"'


def quote_table(table: str) -> str:
    """A catalog table (``v_<id>``, ``s_<id>_<n>``, a system table) in the lake schema."""
    return f"lake.main.{quote_ident(table)}"


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: str = ""


@dataclass(frozen=True)
class PageQuery:
    """Which rows of a table a page shows."""

    offset: int = 0
    limit: int = PAGE_SIZE
    search: str = ""
    filters: tuple[Filter, ...] = ()
    order: str | None = None
    descending: bool = False


@dataclass
class Page:
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    query: PageQuery
    types: dict[str, str] = field(default_factory=dict)


def table_columns(catalog: Any, table: str) -> list[tuple[str, str]]:
    """(column, type) pairs; kept per table by a ``Reader`` (catalog tables never change)."""
    known = getattr(catalog, "columns_cache", None)
    if known is not None and table in known and table not in SYSTEM_TABLES:
        return known[table]
    cur = catalog.cursor()
    try:
        columns = cur.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'lake' "
            "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
    finally:
        cur.close()
    if known is not None:
        known[table] = columns
    return columns


def read_page(
    catalog: Any, table: str, query: PageQuery, fixed: dict[str, Any] | None = None,
    rows: int | None = None, ids: list[str] | None = None, shown: int | None = None,
) -> Page:
    """One page of ``table`` (count included) under the query's search and filters.

    ``rows``: the table's row count when known (a version's), saving a count when nothing
    filters; ``ids``: its sorted ids when known; ``shown``: read only the first ``shown``
    columns (a table page shows a few; the rest stay unread). Tables ordered by ``id`` are
    read in two steps: the ids of the page (sorting one column, or a slice of ``ids``),
    then only those rows.
    """
    types = dict(table_columns(catalog, table))
    picked = ", ".join(quote_ident(c) for c in list(types)[:shown]) if shown else "*"
    where, params = _where(query, types, fixed or {})
    order = _order(query, types)
    source = f"FROM {quote_table(table)} WHERE {where}"
    cur = catalog.cursor()
    try:
        total = rows if rows is not None and where == "true" else None
        if total is None and order != 'ORDER BY "id"':
            total = cur.execute(f"SELECT count(*) {source}", params).fetchone()[0]
        if order == 'ORDER BY "id"' and ids is not None and where == "true":
            total = len(ids)
            result = _rows_of(cur, table, ids[query.offset : query.offset + query.limit], picked)
        elif order == 'ORDER BY "id"':
            result, total = _rows_by_ids(cur, table, source, params, query, total, picked)
        else:
            result = cur.execute(f"SELECT {picked} {source} {order} LIMIT ? OFFSET ?",
                                 [*params, query.limit, query.offset])
        names = [d[0] for d in result.description]
        found = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        cur.close()
    return Page(names, found, int(total or 0), query, types)


def _rows_by_ids(cur: Any, table: str, source: str, params: list[Any], query: PageQuery,
                 total: int | None, picked: str) -> tuple[Any, int]:
    """The page's ids (and the match count, in the same scan), then only those rows."""
    counted = "count(*) OVER ()" if total is None else "NULL"
    found = cur.execute(f"SELECT id, {counted} {source} ORDER BY id LIMIT ? OFFSET ?",
                        [*params, query.limit, query.offset]).fetchall()
    if total is None:
        total = found[0][1] if found else \
            cur.execute(f"SELECT count(*) {source}", params).fetchone()[0]
    return _rows_of(cur, table, [r[0] for r in found], picked), total


def _rows_of(cur: Any, table: str, ids: list[str], picked: str = "*") -> Any:
    marks = ", ".join("?" for _ in ids) or "NULL"
    span = [ids[0], ids[-1]] if ids else [None, None]  # a range the scan can push down
    return cur.execute(f"SELECT {picked} FROM {quote_table(table)} WHERE id BETWEEN ? AND ? "
                       f"AND id IN ({marks}) ORDER BY id LIMIT ?", [*span, *ids, len(ids)])


def row_by_id(db: Any, table: str, row_id: str) -> dict[str, Any] | None:
    """One row of a version by its id (the first, should ids repeat)."""
    cur = db.cursor()
    try:
        result = cur.execute(f"SELECT * FROM {quote_table(table)} WHERE id = ? LIMIT 1",
                             [row_id])
        names = [d[0] for d in result.description]
        row = result.fetchone()
    finally:
        cur.close()
    return dict(zip(names, row, strict=True)) if row else None


def _order(query: PageQuery, types: dict[str, str]) -> str:
    column = query.order or ("id" if "id" in types else None)
    if column is None:
        return ""
    if column not in types:
        raise UsageError(f"unknown column {column!r} to order by; known: {', '.join(types)}")
    return f"ORDER BY {quote_ident(column)}{' DESC' if query.descending else ''}"


def _where(query: PageQuery, types: dict[str, str], fixed: dict[str, Any]) -> tuple[str, list]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in fixed.items():
        clauses.append(f"{quote_ident(column)} = ?")
        params.append(value)
    for item in query.filters:
        clause, values = _filter_clause(item, types)
        clauses.append(clause)
        params.extend(values)
    if query.search:
        texts = [c for c, kind in types.items() if kind == "VARCHAR"]
        if not texts:
            raise UsageError("this table has no text columns to search; use a column filter")
        clauses.append("(" + " OR ".join(
            f"contains(lower({quote_ident(c)}), ?)" for c in texts) + ")")
        params.extend([query.search.lower()] * len(texts))
    return " AND ".join(clauses) or "true", params


def _filter_clause(item: Filter, types: dict[str, str]) -> tuple[str, list[Any]]:
    if item.column not in types:
        raise UsageError(f"unknown column {item.column!r} to filter; known: {', '.join(types)}")
    if item.op not in OPERATORS:
        raise UsageError(f"unknown filter operator {item.op!r}; known: {', '.join(OPERATORS)}")
    column = quote_ident(item.column)
    if item.op in ("null", "notnull"):
        return f"{column} {OPERATORS[item.op].upper()}", []
    if item.op == "contains":
        return f"contains(lower(CAST({column} AS VARCHAR)), lower(?))", [item.value]
    kind = types[item.column]
    if not _SIMPLE_TYPE.match(kind):
        return f"CAST({column} AS VARCHAR) {OPERATORS[item.op]} ?", [item.value]
    return f"{column} {OPERATORS[item.op]} TRY_CAST(? AS {kind})", [item.value]


def rows_where(catalog: Any, table: str, column: str, value: Any, limit: int = 200):
    """Rows of ``table`` whose ``column`` equals ``value`` (the trail of one input)."""
    cur = catalog.cursor()
    try:
        result = cur.execute(
            f"SELECT * FROM {quote_table(table)} WHERE {quote_ident(column)} = ? LIMIT ?",
            [value, limit],
        )
        names = [d[0] for d in result.description]
        return names, [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        cur.close()


def steps_of(db: Any, dataset: str, version: int) -> list[dict[str, Any]]:
    """The step tables of one version: step, table_name, rows."""
    cur = db.cursor()
    try:
        result = cur.execute(
            "SELECT step, table_name, rows FROM steps WHERE dataset = ? AND version = ? "
            "ORDER BY step", [dataset, version])
        return [dict(zip(("step", "table_name", "rows"), r, strict=True))
                for r in result.fetchall()]
    finally:
        cur.close()


def sorted_ids(db: Any, table: str) -> list[str]:
    """Every id of a version table in order (kept by the app: versions never change)."""
    cur = db.cursor()
    try:
        return [r[0] for r in cur.execute(
            f"SELECT id FROM {quote_table(table)} ORDER BY id").fetchall()]
    finally:
        cur.close()


def neighbours(ids: list[str], row_id: str) -> dict[str, Any]:
    """Position of a row in id order, and the ids before and after it."""
    before = bisect.bisect_left(ids, row_id)
    after = bisect.bisect_right(ids, row_id)
    return {"position": before + 1, "previous": ids[before - 1] if before else None,
            "next": ids[after] if after < len(ids) else None}


class Reader:
    """All reads of one request in one cursor and one read transaction.

    Each DuckLake query outside a transaction re-reads the catalog's metadata; inside one
    it is read once. Quacks like a catalog for ``cursor()`` (whose ``close`` is a no-op),
    so the read helpers here and in ``reviews`` take either.
    """

    def __init__(self, catalog: Catalog, columns_cache: dict[str, Any] | None = None):
        self.catalog = catalog
        self.columns_cache = columns_cache
        self._cursor: Any = None

    def cursor(self) -> Reader:
        if self._cursor is None:
            self._cursor = self.catalog.cursor()
            self._cursor.execute("BEGIN TRANSACTION")
        return self

    def execute(self, sql: str, params: list[Any] | None = None) -> Any:
        return self._cursor.execute(sql, params or [])

    def snapshot(self) -> int:
        """The catalog snapshot this request reads (any write makes a new one)."""
        if not hasattr(self, "_snapshot"):
            row = self.cursor().execute("SELECT id FROM lake.current_snapshot()").fetchone()
            self._snapshot = int(row[0]) if row else -1
        return self._snapshot

    def close(self) -> None:
        """Kept open until ``finish`` (the end of the request)."""

    def finish(self) -> None:
        if self._cursor is not None:
            try:
                self._cursor.execute("ROLLBACK")
            finally:
                self._cursor.close()
                self._cursor = None
