"""Resolving a build's ``--input``: a file, a catalog dataset, or a Hugging Face dataset.

Each input is read as Arrow and handed to the generator in polars batches; its lineage
entry says exactly what was read (file digest, dataset version, Hub revision).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen.errors import InvalidInput, UsageError

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from datagen.catalog import Catalog

HF_PREFIX = "hf:"


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


def open_input(ref: str | None, catalog: Catalog) -> Input:
    if ref is None:
        raise UsageError("this recipe has no default input; pass --input FILE|DATASET|hf:ORG/NAME")
    if ref.startswith(HF_PREFIX):
        return _hub_input(ref[len(HF_PREFIX) :])
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


def _hub_input(spec: str) -> Input:
    """``ORG/NAME[@REVISION][:SPLIT]``, read at a fixed commit by the bundled Hub plugin."""
    from datagen_plugins.hub.api import load_hub_table

    repo, _, split = spec.partition(":")
    repo, _, revision = repo.partition("@")
    table, sha = load_hub_table(repo, revision or None, split=split or None, config=None)
    lineage = {
        "kind": "hf",
        "repo": repo,
        "revision": revision or "main",
        "commit": sha,
        "split": split or "train",
    }
    return Input(table, lineage)
