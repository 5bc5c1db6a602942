"""Writing one new version: stage Parquet files, then publish them in one snapshot.

Rows are streamed to Parquet files under ``data/versions/<table>/`` while the build runs
(no catalog transaction is open, so readers and other writers are never blocked). On
``commit`` the files are registered with DuckLake (``ducklake_add_data_files``) and the
version, build and failure rows are inserted, all in one short transaction under the
catalog lock: either all of it becomes visible in one snapshot or none of it does. A
writer that fails or is killed leaves only unreferenced files, which the next open removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from datagen.catalog import concurrency
from datagen.catalog.arrowutil import conform, to_arrow, with_string_ids
from datagen.catalog.lake import LakePaths, one_line, quote_ident, sql_string
from datagen.catalog.lock import commit_lock, exclusive
from datagen.catalog.store import redact_any
from datagen.catalog.types import BuildInfo, check_step, utc_now
from datagen.errors import CatalogError

if TYPE_CHECKING:
    import duckdb

    from datagen.catalog.core import Catalog

ROW_GROUP_ROWS = 122_880  # DuckDB's own row-group size: parallel scans, good compression
FILE_ROWS = 8 * ROW_GROUP_ROWS
ROW_GROUP_BYTES = 32 * 1024 * 1024  # wide rows: write earlier, so memory stays bounded


class PartSink:
    """Buffers Arrow tables and writes them as large zstd row groups in Parquet parts."""

    def __init__(
        self, folder: Path | str, prefix: str, schema: pa.Schema | None = None, filesystem=None
    ):
        self.folder = folder  # a local folder, or an "s3://.../" prefix written via filesystem
        self.prefix = prefix
        self.schema = schema
        self.filesystem = filesystem
        self.files: list[Path | str] = []
        self.rows = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._file_rows = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0 and self.schema is not None:
            return
        self._adopt_schema(table)
        conformed = conform(table, self.schema)
        self._buffer.append(conformed)
        self._buffered += table.num_rows
        self._buffered_bytes += conformed.nbytes
        self.rows += table.num_rows
        if self._buffered >= ROW_GROUP_ROWS:
            self._flush()
        elif self._buffered_bytes >= ROW_GROUP_BYTES:
            self._flush(final=True)

    def close(self) -> list[Path | str]:
        self._flush(final=True)
        with self._store_errors():
            self._close_file()
        return self.files

    def _adopt_schema(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema.remove_metadata()
            return
        new = [f for f in table.schema if f.name not in self.schema.names]
        if new:  # a wider schema starts a new part; older parts read the column as NULL
            self._flush(final=True)
            self._close_file()
            self.schema = pa.schema(list(self.schema) + [f.remove_metadata() for f in new])

    def _flush(self, final: bool = False) -> None:
        """Write whole row groups; a remainder waits for more rows unless ``final``."""
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer)
        full = table.num_rows if final else table.num_rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
        rest = table.slice(full)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows
        self._buffered_bytes = rest.nbytes if rest.num_rows else 0
        if full == 0:
            return
        with self._store_errors():
            if self._writer is None:
                self._open_part()
            assert self._writer is not None
            self._writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP_ROWS)
            self._file_rows += full
            if self._file_rows >= FILE_ROWS:
                self._close_file()

    @contextlib.contextmanager
    def _store_errors(self) -> Iterator[None]:
        """An object store refusing a part -> one line naming where (no credentials)."""
        try:
            yield
        except OSError as exc:
            if self.filesystem is None:
                raise
            raise CatalogError(f"cannot write to {self.folder}: {one_line(exc)}") from None

    def _open_part(self) -> None:
        name = f"{self.prefix}-{len(self.files):05d}.parquet"
        if self.filesystem is None:
            path: Path | str = Path(self.folder) / name
            self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        else:
            path = f"{self.folder}{name}"
            self._writer = pq.ParquetWriter(
                path.removeprefix("s3://"), self.schema, compression="zstd",
                filesystem=self.filesystem,
            )  # fmt: skip
        self.files.append(path)

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._file_rows = 0


class VersionWriter:
    """``with cat.writer(name, build=...) as w``: stream rows, then ``w.commit(stats)``."""

    def __init__(self, catalog: Catalog, name: str, build: BuildInfo, schema: pa.Schema | None):
        self.catalog = catalog
        self.name = name
        self.build = build
        build.dataset = name
        self.table_name = f"v_{build.build_id}"
        self.paths: LakePaths = catalog.paths
        self.folder = self.paths.versions / self.table_name
        self._filesystem = None
        if self.paths.store is not None:  # parts stream straight into the object store
            from datagen.catalog.store import arrow_s3

            self._filesystem = arrow_s3()
        self._rows = self._sink("rows", schema)
        self._steps: dict[str, PartSink] = {}
        self._failures: list[dict[str, Any]] = []
        self._marker_fd: int | None = None
        self._started = time.monotonic()
        self.version: int | None = None

    # -- lifecycle -------------------------------------------------------------
    def __enter__(self) -> VersionWriter:
        self._claim()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.version is not None:
            return
        error = one_line(exc) if exc is not None else "the writer was closed without commit"
        if exc is not None and not str(exc):
            error = type(exc).__name__
        self._discard()
        try:
            self._record_failed(error)
        except Exception:  # never hide the build's own error behind a bookkeeping one
            if exc is None:
                raise

    def _claim(self) -> None:
        """Mark the folder as in use (flock): a later open removes it only if we died."""
        import fcntl

        if self.folder.exists():
            raise CatalogError(f"build {self.build.build_id} already wrote to {self.folder}")
        marker = self.paths.pending / f"{self.table_name}.lock"
        self._marker_fd = os.open(marker, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._marker_fd, fcntl.LOCK_EX)
        self.folder.mkdir(parents=True)

    def _release(self) -> None:
        if self._marker_fd is None:
            return
        (self.paths.pending / f"{self.table_name}.lock").unlink(missing_ok=True)
        os.close(self._marker_fd)
        self._marker_fd = None

    def _discard(self) -> None:
        from datagen.catalog.core import remove_empty_table_folders

        for sink in [self._rows, *self._steps.values()]:
            with contextlib.suppress(Exception):  # the files are deleted next anyway
                sink.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        remove_empty_table_folders(self.paths, self.table_name, *self._step_tables())
        self._release()

    def _step_tables(self) -> list[str]:
        return [f"s_{self.build.build_id}_{index:03d}" for index in range(len(self._steps))]

    # -- writing ---------------------------------------------------------------
    def write_rows(self, data: Any) -> None:
        """Add dataset rows (each with a string ``id``); may be called many times."""
        self._check_open()
        self._rows.add(with_string_ids(to_arrow(data)))

    def write_step(self, step: str, data: Any) -> None:
        """Add rows to an intermediate step table of this version."""
        self._check_open()
        check_step(step)
        if step not in self._steps:
            self._steps[step] = self._sink(f"step{len(self._steps):03d}")
        self._steps[step].add(to_arrow(data))

    def write_failures(self, failures: list[Any]) -> None:
        """Record rows the build could not produce (``Failure`` objects or dicts)."""
        self._check_open()
        for failure in failures:
            is_record = is_dataclass(failure) and not isinstance(failure, type)
            record = asdict(failure) if is_record else dict(failure)
            self._failures.append(record)

    def _sink(self, prefix: str, schema: pa.Schema | None = None) -> PartSink:
        if self.paths.store is None:
            return PartSink(self.folder, prefix, schema)
        remote = f"{self.paths.store.versions}{self.table_name}/"
        return PartSink(remote, prefix, schema, filesystem=self._filesystem)

    @property
    def rows(self) -> int:
        return self._rows.rows

    def _check_open(self) -> None:
        if self._marker_fd is None:
            raise CatalogError("the writer is not open: use it as `with cat.writer(...) as w`")

    # -- commit ----------------------------------------------------------------
    def commit(self, stats: dict[str, Any] | None = None) -> int:
        """Publish the version atomically and return its number."""
        self._check_open()
        files = self._rows.close()
        steps = {step: sink.close() for step, sink in self._steps.items()}
        counts = {"rows": self._rows.rows, "failures": len(self._failures), **(stats or {})}
        if self.paths.shared:
            self.version = self._commit_shared(files, steps, counts)
        else:
            with exclusive(self.paths.lock):
                self.version = self._publish_once(files, steps, counts)
        self._release()
        return self.version

    def _publish_once(self, files, steps, counts) -> int:
        cur = self.catalog.cursor()
        try:
            return self._publish(cur, files, steps, counts)
        finally:
            cur.close()

    def _commit_shared(self, files, steps, counts) -> int:
        """Publish parts already in the object store; a conflicting commit is tried again."""
        attempts = concurrency.commit_attempts()
        for attempt in range(1, attempts + 1):
            try:
                version = self._publish_once(files, steps, counts)
            except concurrency.CommitConflict:
                concurrency.pause(attempt)
                continue
            shutil.rmtree(self.folder, ignore_errors=True)
            return version
        raise concurrency.gave_up(self.name, attempts)

    def _publish(self, cur, files, steps, counts) -> int:
        import duckdb

        cur.execute("BEGIN")
        try:
            if self.paths.shared:
                concurrency.claim_commit(cur)
            version = _next_version(cur, self.name)
            self._register_table(cur, self.table_name, files, self._rows.schema, with_id=True)
            for table, (step, step_files) in zip(self._step_tables(), steps.items(), strict=True):
                self._register_table(cur, table, step_files, self._steps[step].schema)
                cur.execute(
                    "INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?)",
                    [self.name, version, step, table, self.build.build_id, self._steps[step].rows],
                )
            cur.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                [self.name, version, self.table_name, self.build.build_id, self.rows, utc_now()],
            )
            self._insert_build(cur, version, "ok", None, counts)
            _insert_failures(cur, self.build.build_id, self.name, self._failures)
            cur.execute("COMMIT")
        except duckdb.Error as exc:
            _rollback(cur)  # the cause is the error above, never the rollback's own
            if self.paths.shared and concurrency.is_conflict(exc):
                raise concurrency.CommitConflict() from None
            cause = self.paths.redact(commit_cause(exc))
            raise CatalogError(f"cannot commit {self.name}: {cause}") from None
        return version

    def _register_table(self, cur, table: str, files: list[Path], schema, with_id=False) -> None:
        if files:
            listed = ", ".join(sql_string(f) for f in files)
            cur.execute(
                f"CREATE TABLE {quote_ident(table)} AS SELECT * FROM "
                f"read_parquet([{listed}], union_by_name = true) LIMIT 0"
            )
        elif schema is not None and len(schema):
            cur.register("empty_schema_rows", schema.empty_table())
            cur.execute(f"CREATE TABLE {quote_ident(table)} AS SELECT * FROM empty_schema_rows")
            cur.unregister("empty_schema_rows")
        else:
            columns = "id VARCHAR" if with_id else "empty VARCHAR"
            cur.execute(f"CREATE TABLE {quote_ident(table)} ({columns})")
        for path in files:
            cur.execute(
                "CALL ducklake_add_data_files('lake', ?, ?, allow_missing => true)",
                [table, str(path)],
            )

    def _insert_build(self, cur, version, status, error, counts) -> None:
        b = self.build
        finished = utc_now()
        cur.execute(
            "INSERT INTO builds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            [
                b.build_id,
                self.name,
                version,
                b.recipe,
                b.recipe_text,
                b.generator,
                b.generator_version,
                b.plugin,
                b.plugin_version,
                b.datagen_version,
                b.code_revision,
                to_json(b.options),
                to_json(b.models),
                to_json(b.inputs),
                to_json(counts),
                b.started_at,
                finished,
                round(time.monotonic() - self._started, 3),
                status,
                error,
                b.command,
            ],
        )

    def _record_failed(self, error: str) -> None:
        import duckdb

        counts = {"rows": self._rows.rows, "failures": len(self._failures)}
        with commit_lock(self.paths):
            cur = self.catalog.cursor()
            try:
                cur.execute("BEGIN")
                self._insert_build(cur, None, "failed", error, counts)
                _insert_failures(cur, self.build.build_id, self.name, self._failures)
                cur.execute("COMMIT")
            except duckdb.Error:
                _rollback(cur)
                raise
            finally:
                cur.close()


def commit_cause(exc: BaseException) -> str:
    """DuckDB's first line plus, for a failed DuckLake flush, the metadata store's reason."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) < 2:
        return one_line(exc)
    reason = redact_any(lines[-1].rsplit('": ', 1)[-1].strip())
    return f"{redact_any(lines[0])} ({reason[:300]})"


def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
    """ROLLBACK if a transaction is still open; DuckDB may already have ended it."""
    import duckdb

    with contextlib.suppress(duckdb.Error):
        cur.execute("ROLLBACK")


def _next_version(cur: duckdb.DuckDBPyConnection, name: str) -> int:
    row = cur.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM versions WHERE dataset = ?", [name]
    ).fetchone()
    return int(row[0]) if row else 1


def _insert_failures(cur, build_id: str, dataset: str, failures: list[dict[str, Any]]) -> None:
    if not failures:
        return
    table = pa.table(
        {
            "build_id": [build_id] * len(failures),
            "dataset": [dataset] * len(failures),
            "step": [str(f.get("step", "")) for f in failures],
            "input_id": [str(f.get("input_id", "")) for f in failures],
            "reason": [str(f.get("reason", "")) for f in failures],
            "raw_output": [str(f.get("raw_output", "")) for f in failures],
            "attempts": pa.array([int(f.get("attempts", 1)) for f in failures], pa.int32()),
            "detail": [to_json(f.get("detail", {})) for f in failures],
        }
    )
    cur.register("failure_rows", table)
    cur.execute("INSERT INTO failures BY NAME SELECT * FROM failure_rows")
    cur.unregister("failure_rows")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
