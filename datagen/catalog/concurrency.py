"""Concurrent commits to a shared catalog, ordered by DuckLake's transactions.

Writers on different machines cannot share a file lock. Each commit to a shared catalog
also bumps the single row of ``shared_commits``; DuckLake refuses the later of two
transactions that both changed that row, so two commits that read the same latest
version can never both succeed. The refused one is retried from the start (re-reading
the versions) a bounded number of times, then fails with ``CatalogBusy``.
"""

from __future__ import annotations

import os
import random
import time
from typing import TYPE_CHECKING

from datagen.errors import CatalogBusy

if TYPE_CHECKING:
    import duckdb

COUNTER_TABLE = "shared_commits"
DEFAULT_ATTEMPTS = 30


class CommitConflict(Exception):
    """Another writer committed first; the transaction was rolled back."""


def commit_attempts() -> int:
    """``DATAGEN_COMMIT_ATTEMPTS`` (default 30): tries before a conflicting commit fails."""
    value = os.environ.get("DATAGEN_COMMIT_ATTEMPTS", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_ATTEMPTS


CONFLICT_SIGNS = ("conflict", "could not serialize", "duplicate key value", "already exists")


def is_conflict(exc: BaseException) -> bool:
    """Another writer got there first: DuckLake's 'Transaction conflict', or PostgreSQL
    refusing a second creation of the catalog's own tables by two first-time openers."""
    text = str(exc).lower()
    return any(sign in text for sign in CONFLICT_SIGNS)


def ensure_counter(con: duckdb.DuckDBPyConnection) -> None:
    """Create the one-row commit counter (two machines racing here: one retries)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS lake.main.{COUNTER_TABLE} (commits BIGINT)")
    row = con.execute(f"SELECT count(*) FROM lake.main.{COUNTER_TABLE}").fetchone()
    if row and row[0] == 0:
        con.execute(f"INSERT INTO lake.main.{COUNTER_TABLE} VALUES (0)")


def claim_commit(cur: duckdb.DuckDBPyConnection) -> None:
    """Inside a commit's transaction: make it conflict with any concurrent commit."""
    cur.execute(f"UPDATE lake.main.{COUNTER_TABLE} SET commits = commits + 1")


def pause(attempt: int) -> None:
    """Back off before the next try: grows with attempts, jittered so writers spread."""
    time.sleep(min(2.0, 0.05 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.5))


def gave_up(what: str, attempts: int) -> CatalogBusy:
    return CatalogBusy(
        f"cannot commit {what}: other writers kept committing to the shared catalog first "
        f"({attempts} attempts); nothing of it was published - run it again, or raise "
        "DATAGEN_COMMIT_ATTEMPTS"
    )
