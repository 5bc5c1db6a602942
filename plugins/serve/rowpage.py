"""One row: its readable view, its review panel, and its trail through the build's steps.

The trail matches step rows on ``input_id`` (the row's own ``input_id``, else its id).
A curated version has no steps of its own, so the trail follows its lineage up to the
version that was built with steps.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from datagen.errors import DatagenError, NotFound
from datagen_plugins.serve.app import Response
from datagen_plugins.serve.html import Markup, cell_text, layout, link, short, table, tag, url
from datagen_plugins.serve.queries import (
    neighbours,
    row_by_id,
    rows_where,
    steps_of,
    table_columns,
)
from datagen_plugins.serve.reviews import text_columns
from datagen_plugins.serve.rowview import render_row

if TYPE_CHECKING:
    from datagen.catalog import VersionInfo
    from datagen_plugins.serve.app import App, Request

LINEAGE_HOPS = 5


def row_page(app: App, request: Request, info: VersionInfo, row_id: str) -> Response:
    db = request.db
    row = row_by_id(db, info.table_name, row_id)
    if row is None:
        raise NotFound("row", f"{info.ref}#{row_id}")
    place = neighbours(app.sorted_ids(request, info.table_name), row_id)
    body = [
        _navigation(info, place),
        review_panel(app, request, info, row),
        render_row(row),
        trail(app, request, info, row),
    ]
    crumbs = [(info.dataset, url("d", info.dataset)),
              (f"v{info.version}", url("d", info.dataset, info.version))]
    return Response.html(layout(f"{info.ref} · row {short(row_id, 40)}", body,
                                csrf=app.csrf, crumbs=crumbs))


def _navigation(info: VersionInfo, place: dict[str, Any]) -> Markup:
    def go(text: str, rid: str | None, key: str) -> Markup | None:
        if rid is None:
            return None
        return link(text, url("d", info.dataset, info.version, "row", rid), id=f"row-{key}")

    return tag("div", go("← previous (k)", place["previous"], "prev"), " ",
               tag("span", f"row {place['position']} of {info.rows}", class_="count"), " ",
               go("next (j) →", place["next"], "next"), class_="pager")


def review_panel(app: App, request: Request, info: VersionInfo, row: dict[str, Any]) -> Markup:
    review = app.reviews(request, info).get(str(row["id"]))
    state = (review.decision or "no decision") if review else "not reviewed"
    editable = app.cached(request, ("text-columns", info.ref),
                          lambda: text_columns(request.db, info))
    edits = review.edits if review else {}
    edit_fields = [
        tag("label", column, tag("textarea", edits.get(column, cell_text(row.get(column))),
                                 name=column, rows=3, data_original=cell_text(row.get(column))))
        for column in editable
    ]
    return tag(
        "section",
        tag("div", "Review: ", tag("b", state, id="review-state"),
            f" by {review.reviewer}" if review else None, class_="review-status"),
        tag("label", "reviewer ", tag("input", id="reviewer", value=app.reviewer,
                                      placeholder="your name", maxlength=64)),
        tag("button", "accept (a)", id="accept", type="button"),
        tag("button", "reject (r)", id="reject", type="button"),
        tag("label", "label (l) ", tag("input", id="label", maxlength=64,
                                       value=review.label if review and review.label else "")),
        tag("label", "note (n) ", tag("textarea", review.note if review else "", id="note",
                                      rows=1)),
        tag("button", "save (s)", id="save", type="button"),
        tag("details", tag("summary", "edit text (e)"), edit_fields, id="edits"),
        tag("span", "", id="review-message", role="status"),
        id="review-panel", class_="review-panel",
        data_api=url("api", "d", info.dataset, info.version, "review"),
        data_row=str(row["id"]), data_decision=review.decision if review else "",
    )


def trail(app: App, request: Request, info: VersionInfo, row: dict[str, Any]) -> Markup:
    """The step rows and failures behind this row, step by step."""
    db = request.db
    source, steps = app.cached(request, ("trail-source", info.ref),
                               lambda: _trail_source(app, db, info))
    key = row.get("input_id") or row.get("id")
    sections: list[Any] = [tag("h2", "Trail through the build")]
    if source is not info:
        sections.append(tag("p", f"from {source.ref}, which this version was curated from",
                            class_="hint"))
    for step in steps:
        sections.append(_step_rows(db, source, step, key))
    sections.append(_failures(db, source, key))
    return tag("section", sections, class_="trail")


def _trail_source(app: App, db: Any, info: VersionInfo) -> tuple[VersionInfo, list]:
    """The version whose steps explain this one: itself, or the nearest ancestor."""
    current = info
    for _ in range(LINEAGE_HOPS):
        steps = steps_of(db, current.dataset, current.version)
        if steps:
            for step in steps:
                step["columns"] = [c for c, _ in table_columns(db, step["table_name"])]
            return current, steps
        parents = [s for s in current.build.get("inputs") or []
                   if isinstance(s, dict) and s.get("kind") == "dataset"]
        if not parents:
            break
        try:
            current = app.catalog.resolve(f"{parents[0]['name']}@{parents[0]['version']}")
        except DatagenError:  # a parent that is gone: no trail to follow
            break
    return info, []


def _step_rows(db: Any, source: VersionInfo, step: dict[str, Any], key: Any) -> Markup:
    columns = step["columns"]
    title = link(step["step"], url("d", source.dataset, source.version, "step", step["step"]))
    if "input_id" not in columns:
        return tag("details", tag("summary", title, " (no input_id column)"))
    names, rows = rows_where(db, step["table_name"], "input_id", str(key))
    body = table(names, [[_cell(r[n]) for n in names] for r in rows], class_="rows step-rows")
    return tag("details", tag("summary", title, f" · {len(rows)} rows"), body,
               open=bool(rows), class_="step")


def _failures(db: Any, source: VersionInfo, key: Any) -> Markup:
    cur = db.cursor()
    try:
        result = cur.execute(
            "SELECT step, reason, attempts, raw_output, detail FROM failures "
            "WHERE build_id = ? AND input_id = ? LIMIT 100", [source.build_id, str(key)])
        rows = result.fetchall()
    finally:
        cur.close()
    body = table(["step", "reason", "attempts", "raw output", "detail"],
                 [[r[0], r[1], r[2], _cell(r[3]), _cell(r[4])] for r in rows],
                 class_="rows failures")
    return tag("details", tag("summary", f"failures · {len(rows)}"), body,
               open=bool(rows), class_="step")


def _cell(value: Any) -> Markup:
    text = json.dumps(value, ensure_ascii=False, default=str) if isinstance(
        value, (dict, list)) else cell_text(value)
    if len(text) <= 160:
        return tag("span", text)
    return tag("details", tag("summary", text[:120] + "…"), tag("div", text, class_="text"))
