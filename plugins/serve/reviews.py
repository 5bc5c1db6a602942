"""Per-row reviews stored in the catalog's ``reviews`` table (append-only).

Every save appends a row; the latest row for a (dataset, version, row id) is the row's
current review. Writes take the catalog lock, like every other catalog write.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from datagen.catalog.types import utc_now
from datagen.errors import CatalogError, NotFound, UsageError

if TYPE_CHECKING:
    from datagen.catalog import Catalog, VersionInfo

DECISIONS = ("accept", "reject")
MAX_LABEL = 64
MAX_NOTE = 4000
MAX_REVIEWER = 64
TEXT_TYPES = ("VARCHAR",)

_CURRENT = (
    "SELECT * FROM reviews WHERE dataset = ? AND version = ? "
    "QUALIFY row_number() OVER "
    "(PARTITION BY record_id ORDER BY created_at DESC, review_id DESC) = 1"
)


@dataclass(frozen=True)
class Review:
    """One row's review: a decision, a label, a note and edited text columns."""

    dataset: str
    version: int
    row_id: str
    decision: str | None = None
    label: str | None = None
    note: str | None = None
    edits: dict[str, str] = field(default_factory=dict)
    reviewer: str = ""
    created_at: datetime | None = None
    review_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        return data


def save_review(
    catalog: Catalog,
    info: VersionInfo,
    row_id: str,
    *,
    reviewer: str,
    decision: str | None = None,
    label: str | None = None,
    note: str | None = None,
    edits: dict[str, str] | None = None,
) -> Review:
    """Check and append one review of row ``row_id`` of version ``info``."""
    review = Review(
        dataset=info.dataset,
        version=info.version,
        row_id=str(row_id),
        decision=_checked_decision(decision),
        label=_checked_text("label", label, MAX_LABEL),
        note=_checked_text("note", note, MAX_NOTE),
        edits=_checked_edits(catalog, info, edits or {}),
        reviewer=_checked_reviewer(reviewer),
        created_at=utc_now(),
        review_id=uuid.uuid4().hex,
    )
    _require_row(catalog, info, review.row_id)
    _append(catalog, review)
    return review


def current_reviews(catalog: Catalog, info: VersionInfo) -> dict[str, Review]:
    """The latest review of every reviewed row of ``info``, by row id."""
    rows = _fetch(catalog, _CURRENT, [info.dataset, info.version])
    return {row.row_id: row for row in rows}


def review_of(catalog: Catalog, info: VersionInfo, row_id: str) -> Review | None:
    rows = _fetch(catalog, f"SELECT * FROM ({_CURRENT}) WHERE record_id = ?",
                  [info.dataset, info.version, row_id])
    return rows[0] if rows else None


def progress(catalog: Catalog, info: VersionInfo) -> dict[str, int]:
    """How far the review of a version has come: counts by outcome."""
    cur = catalog.cursor()
    try:
        row = cur.execute(
            "SELECT count(*), count(*) FILTER (decision = 'accept'), "
            "count(*) FILTER (decision = 'reject'), count(*) FILTER (edits <> '{}'), "
            f"count(*) FILTER (coalesce(label, '') <> '') FROM ({_CURRENT})",
            [info.dataset, info.version],
        ).fetchone()
    finally:
        cur.close()
    reviewed, accepted, rejected, edited, labelled = row or (0, 0, 0, 0, 0)
    return {"rows": info.rows, "reviewed": reviewed, "accepted": accepted,
            "rejected": rejected, "edited": edited, "labelled": labelled}


def review_set(reviews: dict[str, Review]) -> dict[str, Any]:
    """What identifies a set of reviews in lineage: count, digest of ids, reviewers, time."""
    ids = sorted(r.review_id for r in reviews.values())
    through = max((r.created_at for r in reviews.values() if r.created_at), default=None)
    return {
        "reviews": len(ids),
        "digest": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "reviewers": sorted({r.reviewer for r in reviews.values()}),
        "through": through.isoformat() if through else None,
    }


def text_columns(db: Any, info: VersionInfo) -> list[str]:
    """Columns of a version that reviews may edit (text columns other than ``id``)."""
    from datagen_plugins.serve.queries import table_columns

    return [c for c, t in table_columns(db, info.table_name) if t in TEXT_TYPES and c != "id"]


# -- checks ----------------------------------------------------------------------------
def _checked_decision(decision: str | None) -> str | None:
    if decision in (None, ""):
        return None
    if decision not in DECISIONS:
        raise UsageError(f"invalid review decision {decision!r}; allowed: {', '.join(DECISIONS)}")
    return decision


def _checked_text(what: str, value: str | None, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise UsageError(f"invalid review {what}: text of at most {limit} characters")
    return value


def _checked_reviewer(reviewer: str) -> str:
    name = (reviewer or "").strip() if isinstance(reviewer, str) else ""
    if not name or len(name) > MAX_REVIEWER or any(ch in name for ch in "\r\n\t"):
        raise UsageError(
            f"invalid reviewer name {reviewer!r}: 1-{MAX_REVIEWER} characters on one line"
        )
    return name


def _checked_edits(catalog: Catalog, info: VersionInfo, edits: Any) -> dict[str, str]:
    if not isinstance(edits, dict):
        raise UsageError("invalid review edits: give an object of column -> new text")
    allowed = text_columns(catalog, info)
    for column, value in edits.items():
        if column not in allowed:
            raise UsageError(
                f"cannot edit column {column!r} of {info.ref}; text columns: {', '.join(allowed)}"
            )
        if not isinstance(value, str):
            raise UsageError(f"invalid edit of column {column!r}: the new value must be text")
    return dict(edits)


def _require_row(catalog: Catalog, info: VersionInfo, row_id: str) -> None:
    from datagen_plugins.serve.queries import quote_table

    cur = catalog.cursor()
    try:
        found = cur.execute(
            f"SELECT count(*) FROM {quote_table(info.table_name)} WHERE id = ?", [row_id]
        ).fetchone()
    finally:
        cur.close()
    if not found or not found[0]:
        raise NotFound("row", f"{info.ref}#{row_id}")


# -- storage ---------------------------------------------------------------------------
def _append(catalog: Catalog, review: Review) -> None:
    from datagen.catalog.lock import exclusive

    values = [review.review_id, review.dataset, review.version, review.row_id,
              review.decision, review.label, review.note,
              json.dumps(review.edits, ensure_ascii=False, sort_keys=True),
              review.reviewer, review.created_at]
    with exclusive(catalog.paths.lock):
        cur = catalog.cursor()
        try:
            cur.execute("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
        except Exception as exc:  # duckdb.Error, imported lazily by the catalog
            raise CatalogError(f"cannot save the review of {review.row_id!r}: {exc}") from None
        finally:
            cur.close()


def _fetch(catalog: Catalog, sql: str, params: list[Any]) -> list[Review]:
    cur = catalog.cursor()
    try:
        result = cur.execute(sql, params)
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        cur.close()
    return [_review(row) for row in rows]


def _review(row: dict[str, Any]) -> Review:
    edits = json.loads(row["edits"]) if row.get("edits") else {}
    return Review(row["dataset"], row["version"], row["record_id"], row["decision"],
                  row["label"], row["note"], edits, row["reviewer"] or "",
                  row["created_at"], row["review_id"])
