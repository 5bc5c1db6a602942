"""Commit time of one large version: shared catalog (PostgreSQL + S3) next to the local one.

    python bench/scale.py --part commit [--commit-rows 1000000]
    python bench/shared_commit.py [--rows 1000000]

Both sides write the same feedback-like rows (~1 KB of text each, from bench/catalog.py)
through ``cat.writer`` in Arrow batches and commit them as one new version, in the same
run. Local: SQLite metadata and files under DATAGEN_HOME (the default). Shared: DuckLake
metadata in a PostgreSQL server and the Parquet files in an S3-compatible server (moto),
both started here on 127.0.0.1 as the tests start them (PostgreSQL from the Debian
package). Printed: the whole write (rows streamed + commit) and the commit call alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]


def write_version(home: Path, store, table, batch_rows: int) -> tuple[float, float]:
    """(seconds for the whole write, seconds for ``commit`` alone) of one version."""
    from datagen.catalog import Catalog

    with Catalog.open(home, store=store) as cat:
        start = time.perf_counter()
        with cat.writer("bench") as writer:
            for batch in table.to_batches(max_chunksize=batch_rows):
                writer.write_rows(batch)
            before_commit = time.perf_counter()
            writer.commit({"rows": table.num_rows})
        done = time.perf_counter()
        assert cat.sql("SELECT count(*) AS n FROM bench")["n"][0].as_py() == table.num_rows
    return done - start, done - before_commit


def commit_times(rows: int, batch_rows: int = 50_000) -> dict[str, tuple[float, float]]:
    from catalog import feedback_rows
    from shared_catalog_fixtures import new_shared_catalog, running_postgres, running_s3

    from datagen.catalog.store import parse_store

    table = feedback_rows(rows)
    found: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as home:
        found["local"] = write_version(Path(home) / "local", None, table, batch_rows)
        with running_postgres() as postgres, running_s3() as s3:
            shared = new_shared_catalog(postgres, s3)
            os.environ.update({k: v for k, v in shared.env.items() if k.startswith("AWS_")})
            store = parse_store(shared.catalog, shared.data)
            found["shared"] = write_version(Path(home) / "shared", store, table, batch_rows)
    return found


def report(rows: int, found: dict[str, tuple[float, float]]) -> None:
    (local_all, local_commit), (shared_all, shared_commit) = found["local"], found["shared"]
    print(f"commit of a {rows:,}-row version (~1 KB of text per row):")
    print(f"  local  (SQLite + files):         write {local_all:6.1f} s  "
          f"({rows / local_all:,.0f} rows/s), commit {local_commit:5.2f} s")  # fmt: skip
    print(f"  shared (PostgreSQL + S3 server): write {shared_all:6.1f} s  "
          f"({rows / shared_all:,.0f} rows/s), commit {shared_commit:5.2f} s")  # fmt: skip
    print(f"  shared / local: write {shared_all / local_all:.2f}x, "
          f"commit {shared_commit / local_commit:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    report(args.rows, commit_times(args.rows))


if __name__ == "__main__":
    main()
