"""The catalog: datasets as immutable versions in DuckLake, plus lineage tables."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from datagen.catalog import concurrency, lake, migrations
from datagen.catalog.lake import LakePaths, one_line, quote_ident, sql_string
from datagen.catalog.lock import commit_lock, exclusive, try_lock
from datagen.catalog.store import SharedStore, store_from_env
from datagen.catalog.types import (
    SYSTEM_TABLES,
    BuildInfo,
    DatasetInfo,
    DiffResult,
    VersionInfo,
    check_name,
    check_step,
    parse_ref,
    utc_now,
)
from datagen.catalog.writer import VersionWriter, to_json
from datagen.errors import CatalogBusy, CatalogError, NotFound, UsageError

RECORD_TABLES = ("models", "publications", "metrics")
READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")
EXPORT_FORMATS = ("parquet", "jsonl")
SQLITE_HEADER = b"SQLite format 3\x00"
_EXPLAIN_PREFIX = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+|\([^)]*\)\s*)?", re.IGNORECASE)


class Catalog:
    """A DuckLake catalog under one home folder. Open with ``Catalog.open(home)``."""

    def __init__(self, paths: LakePaths, connection: duckdb.DuckDBPyConnection):
        self.paths = paths
        self.connection = connection
        self._reader: duckdb.DuckDBPyConnection | None = None
        self._views_snapshot: int | None = None  # the snapshot the reader's views show

    # -- opening ---------------------------------------------------------------
    @classmethod
    def open(
        cls, home: Path | str | None = None, store: SharedStore | None | str = "env"
    ) -> Catalog:
        """Open (creating or migrating if needed) the catalog in ``home``.

        ``store``: a shared catalog (PostgreSQL + object storage), None for the local one,
        or ``"env"`` (the default) for whatever ``DATAGEN_CATALOG``/``DATAGEN_DATA`` say.
        A shared catalog still uses ``home`` to stage files before they are uploaded.
        """
        from datagen.home import datagen_home

        shared = store_from_env() if store == "env" else store
        home_path = Path(home).expanduser().resolve() if home else datagen_home()
        paths = LakePaths(home_path, shared if isinstance(shared, SharedStore) else None)
        try:
            paths.create()
        except OSError as exc:
            raise CatalogError(
                f"cannot use {paths.home} as the datagen home: {exc.strerror or exc}"
                " (set DATAGEN_HOME to a writable folder)"
            ) from None
        if paths.shared:
            return cls._open_shared(paths)
        check_intact(paths)
        if not paths.ready.exists():
            with exclusive(paths.lock):
                lake.prepare_metadata(paths)
                lake.connect(paths).close()
        con = lake.connect(paths)
        catalog = cls(paths, con)
        try:
            if not paths.ready.exists() or migrations.pending(con):
                with exclusive(paths.lock):
                    migrations.migrate(con)
                    paths.ready.touch()
            catalog._remove_abandoned()
        except duckdb.Error as exc:
            catalog.close()
            raise CatalogError(
                f"cannot open the catalog in {paths.home}: {one_line(exc)}"
            ) from None
        return catalog

    @classmethod
    def _open_shared(cls, paths: LakePaths) -> Catalog:
        """Connect and migrate; two machines creating the tables at once: one retries."""
        attempts = concurrency.commit_attempts()
        for attempt in range(1, attempts + 1):
            try:
                catalog = cls(paths, lake.connect(paths))
            except CatalogError as exc:  # two first-time openers creating DuckLake's tables
                if not concurrency.is_conflict(exc) or attempt == attempts:
                    raise
                concurrency.pause(attempt)
                continue
            try:
                if migrations.pending(catalog.connection):
                    migrations.migrate(catalog.connection)
                concurrency.ensure_counter(catalog.connection)
                catalog._remove_abandoned()
                return catalog
            except duckdb.Error as exc:
                catalog.close()
                if not concurrency.is_conflict(exc):
                    reason = paths.redact(one_line(exc))
                    where = paths.where()
                    raise CatalogError(f"cannot open the catalog {where}: {reason}") from None
            concurrency.pause(attempt)
        raise CatalogBusy(f"cannot set up the shared catalog {paths.where()}: kept conflicting")

    def close(self) -> None:
        for con in (self._reader, self.connection):
            if con is not None:
                con.close()
        self._reader = None
        self._views_snapshot = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def home(self) -> Path:
        return self.paths.home

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A fresh connection to the catalog (one per operation: safe across threads)."""
        cur = self.connection.cursor()
        cur.execute(f"USE {lake.LAKE}")
        return cur

    def _remove_abandoned(self) -> None:
        """Delete files of writers that died before committing (their flock is gone)."""
        for marker in self.paths.pending.glob("*.lock"):
            fd = try_lock(marker)
            if fd is None:
                continue
            try:
                table = marker.stem
                if not self._table_referenced(table):
                    shutil.rmtree(self.paths.versions / table, ignore_errors=True)
                    remove_empty_table_folders(self.paths, table)
                marker.unlink(missing_ok=True)
            finally:
                os.close(fd)

    def _table_referenced(self, table: str) -> bool:
        row = self._query("SELECT count(*) FROM versions WHERE table_name = ?", [table]).fetchone()
        return bool(row and row[0])

    def _query(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or [])
        except (duckdb.Error, RuntimeError) as exc:
            raise _as_datagen_error(exc) from None

    def _dicts(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        result = self._query(sql, params)
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    # -- listing and resolving ---------------------------------------------------
    def datasets(self) -> list[DatasetInfo]:
        rows = self._query(
            "SELECT dataset, version, rows, created_at FROM versions "
            "QUALIFY row_number() OVER (PARTITION BY dataset ORDER BY version DESC) = 1 "
            "ORDER BY dataset"
        ).fetchall()
        return [DatasetInfo(*row) for row in rows]

    def versions(self, name: str) -> list[VersionInfo]:
        check_name(name)
        rows = self._dicts(
            "SELECT v.dataset, v.version, v.table_name, v.build_id, v.rows, v.created_at, "
            "to_json(b) AS build FROM versions v LEFT JOIN builds b ON b.build_id = v.build_id "
            "WHERE v.dataset = ? ORDER BY v.version",
            [name],
        )
        if not rows:
            raise NotFound("dataset", name, [d.name for d in self.datasets()])
        return [_version_info(row) for row in rows]

    def resolve(self, ref: str) -> VersionInfo:
        """``name`` (latest) or ``name@N`` -> the version; NotFound / InvalidName otherwise."""
        name, number = parse_ref(ref)
        known = self.versions(name)
        if number is None:
            return known[-1]
        for info in known:
            if info.version == number:
                return info
        raise NotFound("version", ref, [info.ref for info in known])

    # -- reading -------------------------------------------------------------------
    def read_arrow(self, ref: str) -> pa.Table:
        info = self.resolve(ref)
        return self._query(f"SELECT * FROM {quote_ident(info.table_name)}").to_arrow_table()

    def head(self, ref: str, rows: int) -> pa.Table:
        """The first ``rows`` rows of a version (only those are read)."""
        info = self.resolve(ref)
        table = quote_ident(info.table_name)
        return self._query(f"SELECT * FROM {table} LIMIT ?", [rows]).to_arrow_table()

    def read_batches(self, ref: str, batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        info = self.resolve(ref)
        table = quote_ident(info.table_name)
        reader = self._query(f"SELECT * FROM {table}").to_arrow_reader(batch_size)
        yield from reader

    def schema(self, ref: str) -> list[tuple[str, str]]:
        """(column, DuckDB type) pairs of one version."""
        info = self.resolve(ref)
        rows = self._query(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'lake' "
            "AND table_name = ? ORDER BY column_index",
            [info.table_name],
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def steps(self, ref: str) -> list[str]:
        info = self.resolve(ref)
        rows = self._query(
            "SELECT step FROM steps WHERE dataset = ? AND version = ? ORDER BY step",
            [info.dataset, info.version],
        ).fetchall()
        return [row[0] for row in rows]

    def read_step(self, ref: str, step: str) -> pa.Table:
        info = self.resolve(ref)
        check_step(step)
        row = self._query(
            "SELECT table_name FROM steps WHERE dataset = ? AND version = ? AND step = ?",
            [info.dataset, info.version, step],
        ).fetchone()
        if row is None:
            raise NotFound("step", f"{info.ref}/{step}", self.steps(info.ref))
        return self._query(f"SELECT * FROM {quote_ident(row[0])}").to_arrow_table()

    # -- writing -------------------------------------------------------------------
    def writer(
        self, name: str, build: BuildInfo | None = None, schema: pa.Schema | None = None
    ) -> VersionWriter:
        """A writer for the next version of ``name``; use it as a context manager."""
        return VersionWriter(self, check_name(name), build or BuildInfo(), schema)

    def append_record(self, table: str, record: dict[str, Any]) -> None:
        """Add a row to ``models``, ``publications`` or ``metrics``; unknown keys are an error."""
        if table not in RECORD_TABLES:
            raise CatalogError(f"cannot append to {table!r}; allowed: {', '.join(RECORD_TABLES)}")
        columns = self._columns(table)
        unknown = sorted(set(record) - set(columns))
        if unknown:
            raise CatalogError(
                f"unknown field {unknown[0]!r} for {table}; allowed: {', '.join(columns)}"
            )
        stamp = "published_at" if table == "publications" else "created_at"
        row: dict[str, Any] = {stamp: utc_now()}
        row.update(record)
        values = [_stored(c, row.get(c)) for c in columns]
        with commit_lock(self.paths):
            marks = ", ".join("?" for _ in columns)
            self._query(f"INSERT INTO {quote_ident(table)} VALUES ({marks})", values)

    def records(self, table: str, **where: Any) -> list[dict[str, Any]]:
        """Rows of a system table matching ``column=value`` filters; JSON columns decoded."""
        if table not in SYSTEM_TABLES:
            raise NotFound("table", table, SYSTEM_TABLES)
        columns = self._columns(table)
        for key in where:
            if key not in columns:
                raise CatalogError(
                    f"unknown column {key!r} of {table}; known: {', '.join(columns)}"
                )
        clause = " AND ".join(f"{quote_ident(key)} = ?" for key in where) or "true"
        rows = self._dicts(
            f"SELECT * FROM {quote_ident(table)} WHERE {clause}", list(where.values())
        )
        return [{k: _loaded(k, v) for k, v in row.items()} for row in rows]

    def _columns(self, table: str) -> list[str]:
        rows = self._query(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'lake' "
            "AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
        return [row[0] for row in rows]

    # -- SQL -------------------------------------------------------------------------
    def sql(self, query: str, writable: bool = False) -> pa.Table:
        """Run DuckDB SQL with every dataset, version and step as a view.

        Read-only unless ``writable``: the catalog is attached READ_ONLY on a connection
        whose engine refuses every file outside the catalog's data folder (and whose
        settings are locked), and only SELECT/EXPLAIN/PRAGMA statements run. With
        ``writable`` the statements run in one transaction that may not change the
        system tables. Errors are ``CatalogError`` with DuckDB's one-line message.
        """
        if writable:
            return self._sql_write(query)
        return self.sql_reader(query).read_all()

    def sql_reader(self, query: str, batch_size: int = 2048) -> pa.RecordBatchReader:
        """Read-only SQL as a stream of Arrow batches (rows are read as they are taken)."""
        con = self._read_connection()
        statements = _statements(con, query)
        _refuse_writes(con, statements)
        self._views(con)
        return _run_all(con, statements, batch_size)

    def _sql_write(self, query: str) -> pa.Table:
        con = lake.connect(self.paths, sandboxed=True)
        try:
            statements = _statements(con, query)
            _refuse_transactions(statements)
            self._views(con)
            with commit_lock(self.paths):
                return _run_guarded(con, statements)
        finally:
            con.close()

    def _views(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            self._create_views(con)
        except duckdb.Error as exc:
            raise CatalogError(one_line(exc)) from None

    def _read_connection(self) -> duckdb.DuckDBPyConnection:
        if self._reader is None:
            self._reader = lake.connect(self.paths, read_only=True, sandboxed=True)
        return self._reader

    def _create_views(self, con: duckdb.DuckDBPyConnection) -> None:
        """Temp views: "name", "name@N", "name@N/step", "name/step" (latest).

        Views are remade only when the catalog has a new snapshot (binding them reads
        DuckLake metadata, which costs more than most queries on small datasets).
        """
        row = con.execute(f"SELECT id FROM {lake.LAKE}.current_snapshot()").fetchone()
        snapshot = int(row[0]) if row else -1
        if con is self._reader and snapshot == self._views_snapshot:
            return
        con.execute("BEGIN")
        try:
            for (view,) in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
            ).fetchall():
                con.execute(f"DROP VIEW temp.main.{quote_ident(view)}")
            views = con.execute(_VIEW_SOURCES).fetchall()
            for view, table in views:
                con.execute(
                    f"CREATE TEMP VIEW {quote_ident(view)} AS "
                    f"SELECT * FROM {lake.LAKE}.main.{quote_ident(table)}"
                )
            con.execute("COMMIT")
            if con is self._reader:
                self._views_snapshot = snapshot
        except duckdb.Error:
            con.execute("ROLLBACK")
            raise

    # -- diff and export -------------------------------------------------------------
    def diff(self, a: str, b: str, sample: int = 10) -> DiffResult:
        """Rows added, removed and changed from ``a`` to ``b``, matched by row id.

        Runs on the read-only, sandboxed connection; column names are quoted identifiers.
        """
        old, new = self.resolve(a), self.resolve(b)
        old_cols = self._columns(old.table_name)
        new_cols = self._columns(new.table_name)
        shared = [c for c in old_cols if c in new_cols and c != "id"]
        con = self._read_connection()
        try:
            counts, samples = _diff_rows(con, old.table_name, new.table_name, shared, sample)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot diff {old.ref} and {new.ref}: {one_line(exc)}") from None
        return DiffResult(
            a=old.ref,
            b=new.ref,
            added=counts.get("added", 0),
            removed=counts.get("removed", 0),
            changed=counts.get("changed", 0),
            unchanged=counts.get("same", 0),
            added_ids=samples["added"],
            removed_ids=samples["removed"],
            changed_ids=samples["changed"],
            columns_added=[c for c in new_cols if c not in old_cols],
            columns_removed=[c for c in old_cols if c not in new_cols],
        )

    def export(
        self, ref: str, path: Path | str, fmt: str = "parquet", *, force: bool = False
    ) -> Path:
        """Write one version to a Parquet or JSON Lines file, atomically.

        The rows go to a temporary file beside the target, renamed over it only once
        complete, so an interrupted export leaves no partial file. An existing target
        needs ``force``; targets inside the datagen home are refused.
        """
        if fmt not in EXPORT_FORMATS:
            raise CatalogError(
                f"unknown export format {fmt!r}; allowed: {', '.join(EXPORT_FORMATS)}"
            )
        info = self.resolve(ref)
        target = self._export_target(path, force)
        options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT json"
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            self._query(
                f"COPY (SELECT * FROM {quote_ident(info.table_name)}) "
                f"TO {sql_string(partial)} ({options})"
            )
            if fmt == "jsonl":
                escape_line_breaks_in_strings(partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def _export_target(self, path: Path | str, force: bool) -> Path:
        target = Path(path).expanduser().resolve()
        if target.is_relative_to(self.home) or self.home.is_relative_to(target):
            raise UsageError(
                f"refusing to export to {target}: it is inside the datagen home {self.home}"
            )
        if target.is_dir():
            raise UsageError(f"cannot export to {target}: it is a folder")
        if target.exists() and not force:
            raise UsageError(f"{target} already exists; use --force to overwrite it")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(f"cannot export to {target}: {exc.strerror or exc}") from None
        return target


_VIEW_SOURCES = """
WITH latest AS (SELECT dataset, max(version) AS version FROM versions GROUP BY dataset)
SELECT dataset || '@' || version, table_name FROM versions
UNION ALL
SELECT v.dataset, v.table_name FROM versions v JOIN latest USING (dataset, version)
UNION ALL
SELECT dataset || '@' || version || '/' || step, table_name FROM steps
UNION ALL
SELECT s.dataset || '/' || s.step, s.table_name FROM steps s JOIN latest USING (dataset, version)
"""


def _row_hashes(table: str, columns: list[str]) -> str:
    packed = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns)
    value = f"md5(CAST(to_json(struct_pack({packed})) AS VARCHAR))" if columns else "''"
    return (
        f"SELECT id, string_agg({value}, ',' ORDER BY {value}) AS h "
        f"FROM {lake.LAKE}.main.{quote_ident(table)} GROUP BY id"
    )


def _diff_rows(
    con: duckdb.DuckDBPyConnection, old: str, new: str, shared: list[str], sample: int
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Counts per kind of change and up to ``sample`` ids of each, in a temp table."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE diff_rows AS SELECT coalesce(o.id, n.id) AS id, "
        "CASE WHEN o.id IS NULL THEN 'added' WHEN n.id IS NULL THEN 'removed' "
        "WHEN o.h = n.h THEN 'same' ELSE 'changed' END AS kind "
        f"FROM ({_row_hashes(old, shared)}) o FULL OUTER JOIN ({_row_hashes(new, shared)}) n "
        "ON o.id = n.id"
    )
    try:
        counts = dict(con.execute("SELECT kind, count(*) FROM diff_rows GROUP BY kind").fetchall())
        samples = {
            kind: [
                row[0]
                for row in con.execute(
                    "SELECT id FROM diff_rows WHERE kind = ? ORDER BY id LIMIT ?", [kind, sample]
                ).fetchall()
            ]
            for kind in ("added", "removed", "changed")
        }
    finally:
        con.execute("DROP TABLE IF EXISTS temp.main.diff_rows")
    return counts, samples


def _statements(con: duckdb.DuckDBPyConnection, query: str) -> list[Any]:
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise CatalogError(one_line(exc)) from None
    if not statements:
        raise CatalogError("empty SQL query")
    return statements


def _refuse_writes(con: duckdb.DuckDBPyConnection, statements: list[Any]) -> None:
    """Only reading statements; ``EXPLAIN [ANALYZE] X`` is judged by X."""
    for statement in statements:
        for kind in _kinds(con, statement):
            if kind not in READ_ONLY_STATEMENTS:
                raise CatalogError(
                    f"{kind} statements are not allowed: the catalog is read-only here "
                    f"(allowed: {', '.join(READ_ONLY_STATEMENTS)}; use --write / writable=True)"
                )


def _kinds(con: duckdb.DuckDBPyConnection, statement: Any) -> list[str]:
    kind = statement.type.name
    if kind != "EXPLAIN":
        return [kind]
    inner = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
    try:
        kinds = [s.type.name for s in con.extract_statements(inner)]
    except duckdb.Error:
        return ["EXPLAIN of an unreadable statement"]
    return [k if k != "EXPLAIN" else "nested EXPLAIN" for k in kinds] or ["empty EXPLAIN"]


def _refuse_transactions(statements: list[Any]) -> None:
    for statement in statements:
        if statement.type.name == "TRANSACTION":
            raise CatalogError(
                "BEGIN/COMMIT/ROLLBACK are not allowed: --write runs all statements "
                "in one transaction of its own"
            )


def _run_all(
    con: duckdb.DuckDBPyConnection, statements: list[Any], batch_size: int
) -> pa.RecordBatchReader:
    try:
        for statement in statements[:-1]:
            con.execute(statement)
        return con.execute(statements[-1]).to_arrow_reader(batch_size)
    except (duckdb.Error, RuntimeError) as exc:
        raise _as_datagen_error(exc) from None


def _as_datagen_error(exc: BaseException) -> BaseException:
    """Ctrl-C inside DuckDB (an interrupted query) stays a KeyboardInterrupt."""
    if isinstance(exc, duckdb.InterruptException) or "interrupted" in str(exc).lower():
        return KeyboardInterrupt()
    if isinstance(exc, duckdb.Error):
        return CatalogError(one_line(exc))
    return exc


def _run_guarded(con: duckdb.DuckDBPyConnection, statements: list[Any]) -> pa.Table:
    """Run writing statements in one transaction; undo it if a system table changed."""
    con.execute("BEGIN")
    try:
        before = _system_fingerprint(con)
        result = _run_all(con, statements, 2048).read_all()
        changed = _changed_system_tables(con, before)
        if changed:
            raise CatalogError(
                f"refusing to change the system table {changed[0]!r}: system tables "
                f"({', '.join(SYSTEM_TABLES)}) are written only by datagen commands; "
                "nothing was changed"
            )
        con.execute("COMMIT")
    except BaseException:
        _rollback(con)
        raise
    return result


def _system_fingerprint(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Per system table: its row count and an order-independent hash of its rows."""
    found: dict[str, Any] = {}
    for table in SYSTEM_TABLES:
        try:
            found[table] = con.execute(
                f"SELECT count(*), bit_xor(hash(t)) FROM {lake.LAKE}.main.{table} t"
            ).fetchone()
        except duckdb.Error:
            found[table] = None  # dropped or renamed
    return found


def _changed_system_tables(con: duckdb.DuckDBPyConnection, before: dict[str, Any]) -> list[str]:
    after = _system_fingerprint(con)
    return [table for table in SYSTEM_TABLES if after[table] != before[table]]


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open (a failed statement may have ended it)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def check_intact(paths: LakePaths) -> None:
    """A catalog that existed must still have its metadata: else say it is damaged.

    A missing, empty or overwritten ``catalog.sqlite`` next to a catalog that was created
    (or data files that remain) is reported instead of silently starting a new, empty
    catalog that would orphan the data files.
    """
    problem = _metadata_problem(paths.metadata)
    if problem is None:
        return
    files = sum(1 for _ in paths.versions.rglob("*.parquet"))
    if not paths.ready.exists() and files == 0:
        return  # a new home: the catalog is created next
    raise CatalogError(
        f"the catalog in {paths.home} is damaged: {paths.metadata.name} {problem}; "
        f"{files} data files under {paths.versions} were left untouched; restore "
        f"{paths.metadata.name} from a backup, or move the folder away to start afresh"
    )


def _metadata_problem(path: Path) -> str | None:
    if not path.exists():
        return "is missing"
    if not path.is_file():
        return "is not a file"
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if not head:
        return "is empty (truncated)"
    if head != SQLITE_HEADER:
        return "is not a SQLite database (overwritten or truncated)"
    return None


def remove_empty_table_folders(paths: LakePaths, *tables: str) -> None:
    """DuckLake makes ``data/main/<table>/`` on CREATE TABLE; drop it if it stayed empty."""
    for table in tables:
        with contextlib.suppress(OSError):
            (paths.data / "main" / table).rmdir()


def _version_info(row: dict[str, Any]) -> VersionInfo:
    build = json.loads(row.pop("build")) if row.get("build") else {}
    build = {k: _loaded(k, v) for k, v in build.items()}
    return VersionInfo(**row, build=build)


def _stored(column: str, value: Any) -> Any:
    if column in migrations.JSON_COLUMNS and value is not None and not isinstance(value, str):
        return to_json(value)
    return value


def _loaded(column: str, value: Any) -> Any:
    if column in migrations.JSON_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# Characters that JSON allows raw inside strings but that many line readers (Python's
# ``str.splitlines``, JavaScript before ES2019) treat as line ends. UTF-8 never reuses
# these byte sequences inside another character, so replacing bytes is exact.
_RAW_LINE_BREAKS = {b"\xc2\x85": b"\\u0085", b"\xe2\x80\xa8": b"\\u2028",
                    b"\xe2\x80\xa9": b"\\u2029"}


def escape_line_breaks_in_strings(path: Path) -> None:
    """Rewrite a JSON Lines file so every record is one line for any reader."""
    escaped = path.with_name(path.name + ".escaped")
    try:
        with path.open("rb") as source, escaped.open("wb") as sink:
            for line in source:
                for raw, written in _RAW_LINE_BREAKS.items():
                    line = line.replace(raw, written)
                sink.write(line)
        os.replace(escaped, path)
    finally:
        escaped.unlink(missing_ok=True)
