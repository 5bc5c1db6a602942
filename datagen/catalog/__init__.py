"""The versioned dataset catalog (DuckLake with a SQLite metadata file).

A shared catalog keeps the metadata in PostgreSQL and the files in S3 instead
(``DATAGEN_CATALOG=postgres:...``, ``DATAGEN_DATA=s3://...``; see ``store.py``).

    from datagen.catalog import Catalog

    with Catalog.open(home) as cat:                      # home: Path | None -> datagen_home()
                                                         # store=: SharedStore | None (local)
        cat.datasets() -> list[DatasetInfo]              # name, latest version, rows, created_at
        cat.versions(name) -> list[VersionInfo]          # every version with its build metadata
        cat.resolve("name@3" | "name") -> VersionInfo    # NotFound / InvalidName on bad refs
        cat.read_arrow("name@3") -> pyarrow.Table
        cat.read_batches("name@3", batch_size) -> Iterator[pyarrow.RecordBatch]
        cat.read_step("name@3", "step") -> pyarrow.Table # intermediate step table
        cat.steps("name@3") -> list[str]
        cat.sql(query, writable=False) -> pyarrow.Table  # datasets as "name" / "name@3",
                                                         # "name@3/step", "name/step", plus
                                                         # builds, failures, versions, steps,
                                                         # models, publications
        cat.diff("name@1", "name@2") -> DiffResult       # added/removed/changed ids by row id
        cat.export("name@3", path, fmt="parquet"|"jsonl") -> Path
        cat.append_record(table, record: dict)           # "models" | "publications" rows
        cat.records(table, **where) -> list[dict]        # any system table, JSON decoded

        with cat.writer(name, build=BuildInfo(...)) as w:  # one build = one new version
            w.write_rows(pyarrow.Table | polars.DataFrame | list[dict])  # streamed
            w.write_step(step, pyarrow.Table | list[dict])
            w.write_failures(list[Failure])
            version = w.commit(stats: dict)              # atomic; exception -> nothing visible

Every version is its own DuckLake table (``v_<build id>``) registered in one snapshot with
its ``versions``, ``builds``, ``steps`` and ``failures`` rows. Importing this package is
cheap: DuckDB loads when ``Catalog`` is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datagen.catalog.types import (
    SYSTEM_TABLES,
    BuildInfo,
    DatasetInfo,
    DiffResult,
    VersionInfo,
    check_name,
    parse_ref,
)

if TYPE_CHECKING:
    from datagen.catalog.core import Catalog
    from datagen.catalog.writer import VersionWriter

__all__ = [
    "SYSTEM_TABLES",
    "BuildInfo",
    "Catalog",
    "DatasetInfo",
    "DiffResult",
    "VersionInfo",
    "VersionWriter",
    "check_name",
    "parse_ref",
]


def __getattr__(name: str) -> Any:
    if name == "Catalog":
        from datagen.catalog.core import Catalog

        return Catalog
    if name == "VersionWriter":
        from datagen.catalog.writer import VersionWriter

        return VersionWriter
    raise AttributeError(f"module 'datagen.catalog' has no attribute {name!r}")
