"""Browse pages: datasets, a dataset's versions, a version, steps, builds, failures, diff."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from datagen.catalog import check_name
from datagen.catalog.types import check_step
from datagen.errors import NotFound, UsageError
from datagen_plugins.serve.app import Response
from datagen_plugins.serve.html import (
    Markup,
    cell_text,
    folded,
    layout,
    link,
    short,
    table,
    tag,
    url,
)
from datagen_plugins.serve.queries import (
    MAX_PAGE_SIZE,
    OPERATORS,
    PAGE_SIZE,
    Filter,
    Page,
    PageQuery,
    quote_table,
    read_page,
    steps_of,
    table_columns,
)
from datagen_plugins.serve.reviews import progress

if TYPE_CHECKING:
    from datagen.catalog import VersionInfo
    from datagen_plugins.serve.app import App, Request

TABLE_COLUMNS = 7  # columns shown in a row table; the row page shows them all
_BUILD_ID = re.compile(r"^[0-9a-f]{8,64}$")


# -- shared pieces -----------------------------------------------------------------------
def page_query(request: Request, **extra: Any) -> PageQuery:
    filters = tuple(
        Filter(c, o, v) for c, o, v in zip(request.params.get("fc", []),
                                           request.params.get("fo", []),
                                           request.params.get("fv", []), strict=False) if c
    )
    return PageQuery(offset=request.int_param("offset", 0),
                     limit=request.int_param("limit", PAGE_SIZE, 1, MAX_PAGE_SIZE),
                     search=request.param("q"), filters=filters, **extra)


def pager(request: Request, page: Page) -> Markup:
    q = page.query
    path = "/" + "/".join(request.segments)
    params = {k: v for k, v in request.params.items() if k != "offset"}
    first, last = q.offset + 1, min(q.offset + q.limit, page.total)
    older = link("← previous", url_with(path, params, offset=max(0, q.offset - q.limit)),
                 id="prev-page") if q.offset > 0 else None
    newer = link("next →", url_with(path, params, offset=q.offset + q.limit),
                 id="next-page") if last < page.total else None
    label = f"rows {first}-{last} of {page.total}" if page.total else "no rows"
    return tag("div", older, " ", tag("span", label, class_="count"), " ", newer, class_="pager")


def url_with(path: str, params: dict[str, list[str]], **changes: Any) -> str:
    merged = {**params, **{k: [str(v)] for k, v in changes.items()}}
    return url(*[s for s in path.split("/") if s], **merged)


def filter_form(request: Request, columns: list[str]) -> Markup:
    """Search box plus one column filter (more travel in the URL)."""
    kept = [tag("input", type="hidden", name=k, value=v) for k in ("fc", "fo", "fv")
            for v in request.params.get(k, [])]
    choose = tag("select", tag("option", "(column)", value=""),
                 [tag("option", c, value=c) for c in columns], name="fc", aria_label="column")
    ops = tag("select", [tag("option", k, value=k) for k in OPERATORS], name="fo",
              aria_label="operator")
    active = [tag("li", f"{c} {o} {v}") for c, o, v in zip(
        request.params.get("fc", []), request.params.get("fo", []),
        request.params.get("fv", []), strict=False)]
    return tag("form", tag("input", type="search", name="q", value=request.param("q"),
                           placeholder="search text columns", id="search"),
               kept, " ", choose, ops, tag("input", name="fv", placeholder="value"),
               tag("button", "apply", type="submit"),
               tag("ul", active, class_="filters") if active else None,
               link("clear", "/" + "/".join(request.segments), id="clear-filters")
               if active or request.param("q") else None,
               method="get", class_="filters-form")


def rows_table(page: Page, row_href: Any, extra: dict[str, Any] | None = None) -> Markup:
    columns = page.columns[:TABLE_COLUMNS]
    head = [*columns, *(extra or {}).keys()]
    body = []
    for row in page.rows:
        cells: list[Any] = [short(row[c], 70) for c in columns]
        if row_href is not None and columns and columns[0] == "id":
            cells[0] = link(short(row["id"], 40), row_href(row["id"]))
        cells += [fn(row) for fn in (extra or {}).values()]
        body.append(cells)
    return table(head, body, class_="rows")


def lineage(info: VersionInfo) -> Markup:
    b = info.build
    facts = [("build", info.build_id), ("status", b.get("status")),
             ("generator", b.get("generator")), ("recipe", b.get("recipe")),
             ("plugin", b.get("plugin")), ("datagen", b.get("datagen_version")),
             ("code", b.get("code_revision")), ("seconds", b.get("seconds")),
             ("command", b.get("command")), ("created", info.created_at)]
    items = [tag("div", tag("dt", k), tag("dd", cell_text(v))) for k, v in facts if v]
    for source in b.get("inputs") or []:
        items.append(tag("div", tag("dt", "input"), tag("dd", describe_input(source))))
    for model in b.get("models") or []:
        items.append(tag("div", tag("dt", "model"), tag("dd", short(model, 200))))
    for key in ("options", "counts"):
        if b.get(key):
            items.append(tag("div", tag("dt", key), tag("dd", folded(json.dumps(
                b[key], ensure_ascii=False, indent=1, default=str), 300))))
    return tag("dl", items, class_="facts lineage")


def describe_input(source: Any) -> Markup:
    if isinstance(source, dict) and source.get("kind") == "file":
        digest = str(source.get("sha256", ""))[:16]
        return tag("span", f"file {source.get('path')} (sha256 {digest}…)")
    if not isinstance(source, dict) or source.get("kind") != "dataset":
        return tag("span", short(source, 300))
    ref = f"{source.get('name')}@{source.get('version')}"
    parts: list[Any] = [link(ref, url("d", source.get("name"), source.get("version")))]
    if source.get("operation"):
        parts.append(f" ({source['operation']})")
    if source.get("review_set"):
        parts.append(" review set " + short(source["review_set"], 200))
    return tag("span", parts)


def _page(app: App, title: str, body: Any, crumbs: Iterable[tuple[str, str]] = ()) -> Response:
    return Response.html(layout(title, body, csrf=app.csrf, crumbs=list(crumbs)))


# -- pages -----------------------------------------------------------------------------
def datasets_page(app: App, request: Request) -> Response:
    found = app.catalog.datasets()
    rows = [[link(d.name, url("d", d.name)), link(str(d.version), url("d", d.name, d.version)),
             d.rows, cell_text(d.created_at)] for d in found]
    body = table(["dataset", "latest", "rows", "created (UTC)"], rows, class_="rows") if rows \
        else tag("p", "No datasets yet. Import one: datagen import FILE --name NAME")
    return _page(app, "Datasets", body)


def dataset_page(app: App, request: Request, name: str) -> Response:
    versions = app.catalog.versions(check_name(name))
    rows = []
    for v in reversed(versions):
        b = v.build
        sources = [describe_input(s) for s in b.get("inputs") or []]
        rows.append([link(f"{v.version}", url("d", name, v.version)), v.rows,
                     cell_text(v.created_at), b.get("generator") or "", b.get("recipe") or "",
                     sources])
    refs = [v.ref for v in reversed(versions)]
    diff = tag("form", tag("select", [tag("option", r) for r in refs], name="b"), " vs ",
               tag("select", [tag("option", r) for r in refs[1:] + refs[:1]], name="a"),
               tag("button", "diff", type="submit"), action="/diff", method="get")
    body = [table(["version", "rows", "created (UTC)", "generator", "recipe", "from"], rows,
                  class_="rows"), tag("h2", "Compare versions"), diff]
    return _page(app, name, body, [(name, url("d", name))])


def version_page(app: App, request: Request, info: VersionInfo) -> Response:
    db = request.db
    page = read_page(db, info.table_name, page_query(request), rows=info.rows,
                     ids=app.sorted_ids(request, info.table_name), shown=TABLE_COLUMNS)
    reviewed = app.reviews(request, info)
    status = {"review": lambda row: _review_badge(reviewed.get(str(row.get("id"))))}
    schema = table(["column", "type"], [[c, t] for c, t in page.types.items()])
    body = [
        tag("section", tag("h2", "Lineage"), lineage(info), class_="half"),
        tag("section", tag("h2", "Schema"), schema, class_="half"),
        app.cached(request, ("steps-block", info.ref), lambda: _steps_block(db, info)),
        app.cached(request, ("review-block", info.ref), lambda: _review_block(db, info)),
        tag("h2", f"Rows ({info.rows})"),
        filter_form(request, list(page.types)),
        pager(request, page),
        rows_table(page, lambda rid: url("d", info.dataset, info.version, "row", rid), status),
    ]
    return _page(app, info.ref, body, _crumbs(info))


def _crumbs(info: VersionInfo) -> list[tuple[str, str]]:
    return [(info.dataset, url("d", info.dataset)),
            (f"v{info.version}", url("d", info.dataset, info.version))]


def _review_badge(review: Any) -> Markup | str:
    if review is None:
        return ""
    word = review.decision or ("edited" if review.edits else "noted")
    return tag("span", word, class_=f"badge {word}")


def _steps_block(db: Any, info: VersionInfo) -> Markup:
    steps = steps_of(db, info.dataset, info.version)
    failures = _count(db, "SELECT count(*) FROM failures WHERE build_id = ?", [info.build_id])
    items = [tag("li", link(s["step"], url("d", info.dataset, info.version, "step", s["step"])),
                 f" ({s['rows']} rows)") for s in sorted(steps, key=lambda s: s["step"])]
    items.append(tag("li", link(f"failures ({failures})",
                                url("failures", build_id=info.build_id))))
    return tag("section", tag("h2", "Steps"), tag("ul", items, class_="steps"))


def _review_block(db: Any, info: VersionInfo) -> Markup:
    counts = progress(db, info)
    done = counts["reviewed"] / counts["rows"] if counts["rows"] else 0.0
    first = _first_unreviewed(db, info)
    start = link("review rows (keyboard: a accept, r reject, j/k move)",
                 url("d", info.dataset, info.version, "row", first), id="start-review") \
        if first is not None else tag("span", "every row has a review")
    commit = tag("button", "commit review as a new version", id="commit-review",
                 data_url=url("api", "d", info.dataset, info.version, "commit-review")) \
        if counts["reviewed"] else None
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    return tag("section", tag("h2", "Review"),
               tag("progress", value=counts["reviewed"], max=max(counts["rows"], 1)),
               tag("span", f" {done:.0%} · {summary}", id="review-progress"),
               tag("p", start, " ", commit), class_="review-block")


def _first_unreviewed(db: Any, info: VersionInfo) -> str | None:
    cur = db.cursor()
    try:
        row = cur.execute(
            f"SELECT min(id) FROM {quote_table(info.table_name)} WHERE id NOT IN "
            "(SELECT record_id FROM reviews WHERE dataset = ? AND version = ?)",
            [info.dataset, info.version],
        ).fetchone()
    finally:
        cur.close()
    return row[0] if row else None


def _count(db: Any, sql: str, params: list[Any]) -> int:
    cur = db.cursor()
    try:
        row = cur.execute(sql, params).fetchone()
    finally:
        cur.close()
    return int(row[0]) if row else 0


def step_page(app: App, request: Request, info: VersionInfo, step: str) -> Response:
    check_step(step)
    steps = app.cached(request, ("steps", info.ref), lambda: {
        s["step"]: s for s in steps_of(request.db, info.dataset, info.version)})
    if step not in steps:
        raise NotFound("step", f"{info.ref}/{step}", steps)
    table = steps[step]["table_name"]
    has_ids = "id" in dict(table_columns(request.db, table))
    page = read_page(request.db, table, page_query(request), rows=steps[step]["rows"],
                     ids=app.sorted_ids(request, table) if has_ids else None)
    body = [tag("p", f'SQL: SELECT * FROM "{info.ref}/{step}"', class_="hint"),
            filter_form(request, page.columns), pager(request, page), rows_table(page, None)]
    return _page(app, f"{info.ref}/{step}", body, _crumbs(info))


def builds_page(app: App, request: Request) -> Response:
    query = page_query(request, order="started_at", descending=True)
    page = read_page(request.db, "builds", query)
    rows = [[short(r["build_id"], 12), _version_link(r), r["recipe"] or "", r["generator"] or "",
             r["status"], cell_text(r["seconds"]), cell_text(r["started_at"]),
             short(r["error"] or "", 80), link("failures", url("failures", build_id=r["build_id"]))]
            for r in page.rows]
    body = [filter_form(request, page.columns), pager(request, page),
            table(["build", "version", "recipe", "generator", "status", "seconds", "started",
                   "error", ""], rows, class_="rows")]
    return _page(app, "Builds", body)


def _version_link(record: dict[str, Any]) -> Markup | str:
    if record.get("version") is None:
        return f"{record['dataset']} (no version)"
    return link(f"{record['dataset']}@{record['version']}",
                url("d", record["dataset"], record["version"]))


def failures_page(app: App, request: Request) -> Response:
    fixed = _failure_scope(request)
    page = read_page(request.db, "failures", page_query(request, order="build_id"), fixed)
    rows = [[short(r["build_id"], 12), r["dataset"], r["step"], short(r["input_id"], 40),
             r["reason"], r["attempts"], folded(r["raw_output"] or "", 200)] for r in page.rows]
    scope = ", ".join(f"{k} = {v}" for k, v in fixed.items()) or "all builds"
    body = [tag("p", f"Failures of {scope}", class_="hint"), filter_form(request, page.columns),
            pager(request, page),
            table(["build", "dataset", "step", "input", "reason", "attempts", "raw output"],
                  rows, class_="rows")]
    return _page(app, "Failures", body)


def _failure_scope(request: Request) -> dict[str, str]:
    fixed = {}
    if request.param("dataset"):
        fixed["dataset"] = check_name(request.param("dataset"))
    if request.param("build_id"):
        if not _BUILD_ID.match(request.param("build_id")):
            raise UsageError(f"invalid build_id {request.param('build_id')!r}: 8-64 hex digits")
        fixed["build_id"] = request.param("build_id")
    return fixed


def diff_page(app: App, request: Request) -> Response:
    a, b = request.param("a"), request.param("b")
    if not a or not b:
        raise UsageError("diff needs two versions: /diff?a=NAME@1&b=NAME@2")
    result = app.catalog.diff(a, b)
    old, new = app.catalog.resolve(a), app.catalog.resolve(b)

    def ids(items: list[str], info: VersionInfo) -> Markup:
        return tag("ul", [tag("li", link(i, url("d", info.dataset, info.version, "row", i)))
                          for i in items])

    counts = table(["added", "removed", "changed", "unchanged"],
                   [[result.added, result.removed, result.changed, result.unchanged]])
    body = [counts,
            tag("p", f"columns added: {', '.join(result.columns_added) or '-'}; "
                     f"removed: {', '.join(result.columns_removed) or '-'}"),
            tag("h2", "added (sample)"), ids(result.added_ids, new),
            tag("h2", "removed (sample)"), ids(result.removed_ids, old),
            tag("h2", "changed (sample)"), ids(result.changed_ids, new)]
    return _page(app, f"{result.a} → {result.b}", body)
