"""Curation: each operation reads one version and writes a new version with lineage.

    from datagen_plugins.serve.curate import where, dedupe, sample, split, apply_review

    with Catalog.open() as cat:
        result = where(cat, "critique-sft@1", "score >= 50")   # -> CurateResult

The new version's build names the operation and its options, and its input is the parent
version (``{"kind": "dataset", "name", "version", "operation"}``), plus the review set for
``apply_review``. Choices that involve chance (sample, split) hash the row id with a seed,
so the same seed always picks the same rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from datagen.catalog import BuildInfo
from datagen.errors import UsageError
from datagen_plugins.serve import minhash
from datagen_plugins.serve.queries import quote_ident
from datagen_plugins.serve.reviews import current_reviews, review_set

if TYPE_CHECKING:
    from datagen.catalog import Catalog, VersionInfo

DEDUPE_MODES = ("exact", "near")
SPLIT_COLUMN = "split"


@dataclass(frozen=True)
class CurateResult:
    """The version an operation wrote and what it did."""

    dataset: str
    version: int
    parent: str
    operation: str
    rows_in: int
    rows_out: int

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


def where(catalog: Catalog, ref: str, predicate: str, *, into: str | None = None,
          command: str | None = None) -> CurateResult:
    """Keep the rows for which the SQL ``predicate`` is true (read-only SQL)."""
    if not predicate.strip():
        raise UsageError("empty --where predicate; give a SQL condition such as 'score >= 50'")
    info = catalog.resolve(ref)
    table = catalog.sql(f"SELECT * FROM {quote_ident(info.ref)} WHERE ({predicate})")
    return _write(catalog, info, table, {"operation": "where", "predicate": predicate},
                  into, command)


def dedupe(catalog: Catalog, ref: str, mode: str, *, column: str | None = None,
           threshold: float = 0.8, into: str | None = None,
           command: str | None = None) -> CurateResult:
    """Drop duplicate rows (the first one stays): ``exact`` values or ``near`` (MinHash)."""
    if mode not in DEDUPE_MODES:
        raise UsageError(f"unknown --dedupe mode {mode!r}; allowed: {', '.join(DEDUPE_MODES)}")
    info = catalog.resolve(ref)
    table = catalog.read_arrow(info.ref)
    if mode == "exact":
        keep = _first_of_each(_exact_keys(table, column))
    else:
        keep = minhash.unique_mask(_near_texts(table, column, info.ref), threshold)
    options: dict[str, Any] = {"operation": "dedupe", "mode": mode, "column": column}
    if mode == "near":
        options["threshold"] = threshold
    return _write(catalog, info, table.filter(pa.array(keep)), options, into, command)


def sample(catalog: Catalog, ref: str, n: int, *, seed: int = 0, into: str | None = None,
           command: str | None = None) -> CurateResult:
    """Keep ``n`` rows chosen by a seeded hash of their id (kept in their order)."""
    if n < 1:
        raise UsageError(f"invalid --sample {n}: give a number of rows from 1")
    info = catalog.resolve(ref)
    table = catalog.read_arrow(info.ref)
    ranks = _seeded_order(table, seed)
    chosen = set(ranks[:n])
    keep = [i in chosen for i in range(table.num_rows)]
    options = {"operation": "sample", "n": n, "seed": seed}
    return _write(catalog, info, table.filter(pa.array(keep)), options, into, command)


def split(catalog: Catalog, ref: str, fractions: dict[str, float], *, seed: int = 0,
          rest: str = "train", into: str | None = None,
          command: str | None = None) -> CurateResult:
    """Add a ``split`` column: exact shares of rows per named split, the rest in ``rest``."""
    _check_fractions(fractions, rest)
    info = catalog.resolve(ref)
    table = catalog.read_arrow(info.ref)
    labels = [rest] * table.num_rows
    position = 0
    order = _seeded_order(table, seed)
    for name, fraction in fractions.items():
        count = round(fraction * table.num_rows)
        for index in order[position : position + count]:
            labels[index] = name
        position += count
    if SPLIT_COLUMN in table.column_names:
        table = table.drop_columns([SPLIT_COLUMN])
    table = table.append_column(SPLIT_COLUMN, pa.array(labels, pa.string()))
    options = {"operation": "split", "fractions": fractions, "rest": rest, "seed": seed}
    return _write(catalog, info, table, options, into, command)


def apply_review(catalog: Catalog, ref: str, *, into: str | None = None,
                 command: str | None = None) -> CurateResult:
    """Rejected rows out, edited text in; unreviewed and accepted rows stay as they are."""
    info = catalog.resolve(ref)
    reviews = current_reviews(catalog, info)
    if not reviews:
        raise UsageError(f"no reviews of {info.ref} yet: review rows in `datagen serve` first")
    table = catalog.read_arrow(info.ref)
    rejected = [rid for rid, r in reviews.items() if r.decision == "reject"]
    table = table.filter(pc.invert(pc.is_in(table["id"], pa.array(rejected, pa.string()))))
    table = _with_edits(table, {rid: r.edits for rid, r in reviews.items() if r.edits})
    reviewed = review_set(reviews)
    options = {"operation": "apply-review", "rejected": len(rejected),
               "edited": sum(1 for r in reviews.values() if r.edits and r.decision != "reject")}
    return _write(catalog, info, table, options, into, command, {"review_set": reviewed})


# -- pieces ----------------------------------------------------------------------------
def _write(catalog: Catalog, parent: VersionInfo, table: pa.Table, options: dict[str, Any],
           into: str | None, command: str | None,
           lineage: dict[str, Any] | None = None) -> CurateResult:
    source = {"kind": "dataset", "name": parent.dataset, "version": parent.version,
              "operation": options["operation"], **(lineage or {})}
    build = BuildInfo(generator=f"curate-{options['operation']}", plugin="serve",
                      options=options, inputs=[source], command=command)
    name = into or parent.dataset
    with catalog.writer(name, build=build, schema=table.schema) as writer:
        writer.write_rows(table)
        version = writer.commit({"rows_in": parent.rows})
    return CurateResult(name, version, parent.ref, options["operation"], parent.rows,
                        table.num_rows)


def _exact_keys(table: pa.Table, column: str | None) -> list[str]:
    columns = [column] if column else [c for c in table.column_names if c != "id"]
    for name in columns:
        if name not in table.column_names:
            raise UsageError(f"unknown column {name!r}; known: {', '.join(table.column_names)}")
    values = table.select(columns).to_pylist()
    return [hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()
            for v in values]


def _first_of_each(keys: list[str]) -> list[bool]:
    seen: set[str] = set()
    keep = []
    for key in keys:
        keep.append(key not in seen)
        seen.add(key)
    return keep


def _near_texts(table: pa.Table, column: str | None, ref: str) -> list[str]:
    if not column:
        raise UsageError("--dedupe near needs --column NAME: the text column to compare")
    if column not in table.column_names:
        raise UsageError(f"unknown column {column!r} of {ref}; known: "
                         f"{', '.join(table.column_names)}")
    return ["" if v is None else str(v) for v in table[column].to_pylist()]


def _seeded_order(table: pa.Table, seed: int) -> list[int]:
    """Row indexes ordered by a seeded hash of each row's id."""
    ids = table["id"].to_pylist()
    keys = [hashlib.blake2b(f"{seed}\0{i}".encode(), digest_size=8).digest() for i in ids]
    return sorted(range(len(ids)), key=keys.__getitem__)


def _check_fractions(fractions: dict[str, float], rest: str) -> None:
    if not fractions:
        raise UsageError("--split needs at least one NAME=FRACTION, e.g. test=0.1")
    for name, fraction in fractions.items():
        if not 0 < fraction < 1:
            raise UsageError(f"invalid --split {name}={fraction}: a fraction between 0 and 1")
    if rest in fractions:
        raise UsageError(f"--split {rest}=... is the rest of the rows; name the other splits")
    if sum(fractions.values()) > 1:
        raise UsageError(f"--split fractions add up to {sum(fractions.values()):g}, over 1")


def _with_edits(table: pa.Table, edits: dict[str, dict[str, str]]) -> pa.Table:
    """Replace edited text cells; other cells keep their values."""
    if not edits:
        return table
    ids = table["id"].to_pylist()
    for column in sorted({c for changes in edits.values() for c in changes}):
        values = table[column].to_pylist()
        for index, row_id in enumerate(ids):
            if column in edits.get(row_id, {}):
                values[index] = edits[row_id][column]
        position = table.column_names.index(column)
        kind = table.schema.field(column).type
        table = table.set_column(position, column, pa.array(values, kind))
    return table


def parse_split(specs: tuple[str, ...]) -> dict[str, float]:
    """``("test=0.1", "valid=0.05")`` -> ``{"test": 0.1, "valid": 0.05}``."""
    from datagen.catalog.types import check_step

    fractions: dict[str, float] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            fractions[check_step(name)] = float(value) if sep else -1.0
        except ValueError:
            raise UsageError(
                f"invalid --split {spec!r}: use NAME=FRACTION, e.g. test=0.1"
            ) from None
    return fractions
