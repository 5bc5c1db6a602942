"""Resolving a build's ``--input``: a file, a catalog dataset, or a registered source kind.

Each input is read as Arrow and handed to the generator in polars batches (or whole, to a
whole-dataset stage); its lineage entry says exactly what was read (file digest, dataset
version, or what the source kind records, e.g. a Hub commit for ``hf:``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen.errors import InvalidInput, NotFound, UsageError
from datagen.sources import split_prefix

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from datagen.catalog import Catalog

@dataclass
class Input:
    table: pa.Table
    lineage: dict[str, Any]

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def batches(self, size: int, limit: int | None = None) -> Iterator[pl.DataFrame]:
        import polars as pl

        table = self.table if limit is None else self.table.slice(0, limit)
        for start in range(0, table.num_rows, size):
            yield pl.from_arrow(table.slice(start, size))  # type: ignore[misc]

    def frame(self, limit: int | None = None) -> pl.DataFrame:
        """The whole input (up to ``limit`` rows) as one frame."""
        import polars as pl

        table = self.table if limit is None else self.table.slice(0, limit)
        return pl.from_arrow(table)  # type: ignore[return-value]

    def describe(self) -> str:
        """Where the input came from, for error messages."""
        lineage = self.lineage
        return str(lineage.get("path") or lineage.get("name") or lineage.get("repo") or "input")


def open_input(ref: str | None, catalog: Catalog) -> Input:
    if ref is None:
        raise UsageError("this recipe has no default input; pass --input FILE|DATASET|hf:ORG/NAME")
    kind = split_prefix(ref)
    if kind is not None and not Path(ref).expanduser().exists():
        return _source_input(*kind)
    path = Path(ref).expanduser()
    if path.exists() or path.suffix in {".jsonl", ".json", ".csv", ".parquet"}:
        return _file_input(path)
    return _dataset_input(ref, catalog)


def require_columns(table: pa.Table, columns: tuple[str, ...], source: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        present = ", ".join(table.column_names)
        raise InvalidInput(
            f"missing column(s) {', '.join(missing)}; the input has: {present}", path=source
        )


def _file_input(path: Path) -> Input:
    from datagen.readers import load

    loaded = load(path)
    lineage = {"kind": "file", "path": str(path.resolve()), "sha256": loaded.sha256}
    return Input(loaded.table, lineage)


def _dataset_input(ref: str, catalog: Catalog) -> Input:
    info = catalog.resolve(ref)
    name, version = info.name, info.version
    table = catalog.read_arrow(f"{name}@{version}")
    return Input(table, {"kind": "dataset", "name": name, "version": version})


def _source_input(prefix: str, ref: str) -> Input:
    from datagen.plugins import sources

    registry = sources()
    if prefix not in registry.items:
        known = [f"{name}:" for name in registry.items]
        raise NotFound("input source kind", f"{prefix}:", known)
    read = registry.get(prefix)().read(ref)
    return Input(read.table, read.lineage)
