"""Append-only migrations for the catalog's system tables.

Each step has a number and SQL run in the catalog (``USE lake`` is in effect). Never edit
or reorder a released step: add a new one. Applied steps are listed in ``migrations``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from datagen.catalog.types import utc_now

if TYPE_CHECKING:
    import duckdb

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "versions",
        """CREATE TABLE versions (
            dataset VARCHAR, version INTEGER, table_name VARCHAR, build_id VARCHAR,
            rows BIGINT, created_at TIMESTAMP)""",
    ),
    (
        2,
        "builds",
        """CREATE TABLE builds (
            build_id VARCHAR, dataset VARCHAR, version INTEGER, recipe VARCHAR,
            recipe_text VARCHAR, generator VARCHAR, generator_version VARCHAR,
            plugin VARCHAR, plugin_version VARCHAR, datagen_version VARCHAR,
            code_revision VARCHAR, options VARCHAR, models VARCHAR, inputs VARCHAR,
            counts VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, seconds DOUBLE,
            status VARCHAR, error VARCHAR, command VARCHAR)""",
    ),
    (
        3,
        "failures",
        """CREATE TABLE failures (
            build_id VARCHAR, dataset VARCHAR, step VARCHAR, input_id VARCHAR,
            reason VARCHAR, raw_output VARCHAR, attempts INTEGER, detail VARCHAR)""",
    ),
    (
        4,
        "steps",
        """CREATE TABLE steps (
            dataset VARCHAR, version INTEGER, step VARCHAR, table_name VARCHAR,
            build_id VARCHAR, rows BIGINT)""",
    ),
    (
        5,
        "models",
        """CREATE TABLE models (
            model_id VARCHAR, path VARCHAR, base_model VARCHAR, dataset VARCHAR,
            version INTEGER, method VARCHAR, trainer VARCHAR, options VARCHAR,
            metrics VARCHAR, created_at TIMESTAMP)""",
    ),
    (
        6,
        "publications",
        """CREATE TABLE publications (
            dataset VARCHAR, version INTEGER, repo VARCHAR, revision VARCHAR, tag VARCHAR,
            "commit" VARCHAR, url VARCHAR, published_at TIMESTAMP)""",
    ),
    (
        7,
        "reviews",
        """CREATE TABLE reviews (
            review_id VARCHAR, dataset VARCHAR, version INTEGER, record_id VARCHAR,
            decision VARCHAR, label VARCHAR, note VARCHAR, edits VARCHAR,
            reviewer VARCHAR, created_at TIMESTAMP)""",
    ),
    (
        8,
        "metrics",
        """CREATE TABLE metrics (
            metric_id VARCHAR, kind VARCHAR, dataset VARCHAR, version INTEGER, model VARCHAR,
            judge VARCHAR, inputs VARCHAR, metrics VARCHAR, detail VARCHAR, command VARCHAR,
            created_at TIMESTAMP)""",
    ),
]

# Columns that hold JSON text: encoded on write, decoded by ``Catalog.records``.
JSON_COLUMNS = frozenset({"options", "models", "inputs", "counts", "detail", "metrics"})


def applied(con: duckdb.DuckDBPyConnection) -> int:
    """The highest applied step, 0 for a fresh catalog."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'lake' "
        "AND table_name = 'migrations'"
    ).fetchone()
    if not found or not found[0]:
        return 0
    row = con.execute("SELECT coalesce(max(id), 0) FROM lake.main.migrations").fetchone()
    return int(row[0]) if row else 0


def pending(con: duckdb.DuckDBPyConnection) -> bool:
    return applied(con) < MIGRATIONS[-1][0]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the missing steps in one transaction (one snapshot). Call under the lock."""
    done = applied(con)
    ran = []
    con.execute("BEGIN")
    try:
        if done == 0:
            con.execute(
                "CREATE TABLE IF NOT EXISTS lake.main.migrations "
                "(id INTEGER, name VARCHAR, applied_at TIMESTAMP)"
            )
        for number, name, sql in MIGRATIONS:
            if number <= done:
                continue
            con.execute(sql)
            con.execute(
                "INSERT INTO lake.main.migrations VALUES (?, ?, ?)", [number, name, utc_now()]
            )
            ran.append(number)
        con.execute("COMMIT")
    except Exception:
        with contextlib.suppress(Exception):  # a failed COMMIT has ended it already
            con.execute("ROLLBACK")
        raise
    return ran
