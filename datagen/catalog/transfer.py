"""Moving a local catalog to a shared one (``datagen catalog migrate``).

Every table of the local catalog (each version's and step's table, builds, failures,
models, metrics, reviews, publications and any table made with ``sql --write``) is
copied into an empty shared catalog in one transaction: the shared catalog shows either
the whole local history or nothing of it. The local catalog is only read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from datagen.catalog import concurrency, lake
from datagen.catalog.core import Catalog
from datagen.catalog.lake import LakePaths, one_line, quote_ident, sql_string
from datagen.catalog.store import SharedStore
from datagen.errors import CatalogError, UsageError

SOURCE = "local_source"
OWN_TABLES = ("migrations", concurrency.COUNTER_TABLE)  # each catalog keeps its own rows


@dataclass(frozen=True)
class MigrationReport:
    tables: int
    datasets: int
    versions: int
    builds: int


def migrate_catalog(home: Path | str | None, store: SharedStore) -> MigrationReport:
    """Copy the local catalog in ``home`` (default: ``DATAGEN_HOME``) into ``store``."""
    with Catalog.open(home, store=None) as source:
        if not source.records("builds"):
            raise UsageError(
                f"the local catalog in {source.home} has no builds: nothing to migrate"
            )
        tables = _tables(source.connection, lake.LAKE)
        with Catalog.open(source.home, store=store) as target:
            _check_empty(target)
            _copy(target, source.paths, tables)
            datasets = target.datasets()
            versions = sum(len(target.versions(d.name)) for d in datasets)
            builds = len(target.records("builds"))
    return MigrationReport(len(tables), len(datasets), versions, builds)


def _tables(con: duckdb.DuckDBPyConnection, database: str) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name",
        [database],
    ).fetchall()
    return [row[0] for row in rows if row[0] not in OWN_TABLES]


def _check_empty(target: Catalog) -> None:
    found = target.records("builds")
    if found:
        raise UsageError(
            f"the shared catalog {target.paths.where()} already holds {len(found)} builds; "
            "migrate copies a local catalog only into an empty shared one"
        )


def _copy(target: Catalog, source: LakePaths, tables: list[str]) -> None:
    """All tables in one transaction; the source attached read-only beside the target."""
    con = target.connection.cursor()
    try:
        con.execute(f"LOAD {sql_string(lake.extension_file('sqlite_scanner'))}")
        con.execute(
            f"ATTACH {sql_string(source.attach_target)} AS {SOURCE} "
            f"(DATA_PATH {sql_string(source.data_uri)}, READ_ONLY)"
        )
        existing = set(_tables(con, lake.LAKE))
        con.execute("BEGIN")
        concurrency.claim_commit(con)
        for table in tables:
            _copy_table(con, table, table in existing)
        con.execute("COMMIT")
    except duckdb.Error as exc:
        with_rollback(con)
        reason = target.paths.redact(one_line(exc))
        raise CatalogError(f"cannot migrate {source.home}: {reason}; nothing was copied") from None
    finally:
        con.close()


def _copy_table(con: duckdb.DuckDBPyConnection, table: str, exists: bool) -> None:
    name = quote_ident(table)
    if exists:  # a system table the target's migrations made: same columns
        con.execute(
            f"INSERT INTO {lake.LAKE}.main.{name} BY NAME SELECT * FROM {SOURCE}.main.{name}"
        )
    else:
        con.execute(f"CREATE TABLE {lake.LAKE}.main.{name} AS SELECT * FROM {SOURCE}.main.{name}")


def with_rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
        con.execute("ROLLBACK")
