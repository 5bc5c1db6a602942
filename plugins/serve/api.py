"""JSON endpoints: listings for scripts, and the review writes the pages make."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datagen.errors import NotFound
from datagen_plugins.serve import curate
from datagen_plugins.serve import reviews as review_store
from datagen_plugins.serve.app import Response
from datagen_plugins.serve.queries import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    PageQuery,
    read_page,
    row_by_id,
)

if TYPE_CHECKING:
    from datagen.catalog import VersionInfo
    from datagen_plugins.serve.app import App, Request


def datasets(app: App) -> Response:
    found = app.catalog.datasets()
    return Response.json([{"name": d.name, "version": d.version, "rows": d.rows,
                           "created_at": d.created_at} for d in found])


def rows(app: App, request: Request, info: VersionInfo) -> Response:
    query = PageQuery(offset=request.int_param("offset", 0),
                      limit=request.int_param("limit", PAGE_SIZE, 1, MAX_PAGE_SIZE),
                      search=request.param("q"))
    page = read_page(request.db, info.table_name, query, rows=info.rows,
                     ids=app.sorted_ids(request, info.table_name))
    return Response.json({"version": info.ref, "total": page.total, "offset": query.offset,
                          "columns": page.columns, "rows": page.rows})


def row(app: App, request: Request, info: VersionInfo, row_id: str) -> Response:
    found = row_by_id(request.db, info.table_name, row_id)
    if found is None:
        raise NotFound("row", f"{info.ref}#{row_id}")
    review = app.reviews(request, info).get(row_id)
    return Response.json({"version": info.ref, "row": found,
                          "review": review.as_dict() if review else None})


def reviews_of(db: Any, info: VersionInfo) -> dict:
    current = review_store.current_reviews(db, info)
    return {"version": info.ref, "progress": review_store.progress(db, info),
            "reviews": [r.as_dict() for r in current.values()]}


def reviews(app: App, request: Request, info: VersionInfo) -> Response:
    return Response.json(reviews_of(request.db, info))


def save(app: App, request: Request, info: VersionInfo) -> Response:
    data = request.json()
    review = review_store.save_review(
        app.catalog, info, str(data.get("row_id", "")),
        reviewer=data.get("reviewer") or app.reviewer,
        decision=data.get("decision"), label=data.get("label"), note=data.get("note"),
        edits=data.get("edits") or {},
    )
    return Response.json({"review": review.as_dict(),
                          "progress": review_store.progress(app.catalog, info)})


def commit_review(app: App, request: Request, info: VersionInfo) -> Response:
    result = curate.apply_review(app.catalog, info.ref, command="datagen serve: commit review")
    return Response.json({"dataset": result.dataset, "version": result.version,
                          "ref": result.ref, "parent": result.parent,
                          "rows_in": result.rows_in, "rows_out": result.rows_out,
                          "url": f"/d/{result.dataset}/{result.version}"})

