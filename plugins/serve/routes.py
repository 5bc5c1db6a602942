"""URL -> page. Every view has its own URL; names in URLs are checked like CLI arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from datagen.catalog import parse_ref
from datagen.errors import NotFound, UsageError
from datagen_plugins.serve import api, pages, rowpage, sqlpage
from datagen_plugins.serve.app import Response, static_file

if TYPE_CHECKING:
    from datagen.catalog import VersionInfo
    from datagen_plugins.serve.app import App, Request


def version_of(app: App, name: str, number: str, request: Request | None = None) -> VersionInfo:
    """``/d/NAME/V`` -> the version, after the same checks as ``NAME@V`` on the CLI."""
    if not number.isdigit():
        raise UsageError(f"invalid version {number!r} in the URL: give a number from 1")
    dataset, version = parse_ref(f"{name}@{int(number)}")
    ref = f"{dataset}@{version}"
    if request is None:
        return app.catalog.resolve(ref)
    return app.cached(request, ("resolve", ref), lambda: app.catalog.resolve(ref))


def route(app: App, request: Request) -> Response:
    s = request.segments
    if request.method == "POST":
        return _post(app, request, s)
    if request.method != "GET":
        raise UsageError(f"method {request.method} is not allowed")
    if s[:1] == ["api"]:
        return _api_get(app, request, s[1:])
    if len(s) == 2 and s[0] == "static":
        return static_file(s[1])
    if not s:
        return pages.datasets_page(app, request)
    if s == ["favicon.ico"]:
        return Response(204, b"", "image/x-icon")
    if s[0] in SIMPLE_PAGES and len(s) == 1:
        return SIMPLE_PAGES[s[0]](app, request)
    if s == ["sql", "download"]:
        return sqlpage.download(app, request)
    if s[0] == "d":
        return _dataset_get(app, request, s[1:])
    raise NotFound("page", "/" + "/".join(s))


SIMPLE_PAGES = {
    "builds": pages.builds_page,
    "failures": pages.failures_page,
    "diff": pages.diff_page,
    "sql": sqlpage.sql_page,
}


def _dataset_get(app: App, request: Request, s: list[str]) -> Response:
    if len(s) == 1:
        return pages.dataset_page(app, request, s[0])
    if len(s) < 2:
        raise NotFound("page", "/d")
    info = version_of(app, s[0], s[1], request)
    rest = s[2:]
    if not rest:
        return pages.version_page(app, request, info)
    if len(rest) == 2 and rest[0] == "row":
        return rowpage.row_page(app, request, info, rest[1])
    if len(rest) == 2 and rest[0] == "step":
        return pages.step_page(app, request, info, rest[1])
    raise NotFound("page", "/" + "/".join(request.segments))


def _api_get(app: App, request: Request, s: list[str]) -> Response:
    if s == ["datasets"]:
        return api.datasets(app)
    if len(s) >= 4 and s[0] == "d":
        info = version_of(app, s[1], s[2], request)
        rest = s[3:]
        if rest == ["rows"]:
            return api.rows(app, request, info)
        if rest == ["reviews"]:
            return api.reviews(app, request, info)
        if len(rest) == 2 and rest[0] == "row":
            return api.row(app, request, info, rest[1])
    raise NotFound("API endpoint", "/api/" + "/".join(s))


def _post(app: App, request: Request, s: list[str]) -> Response:
    if len(s) == 5 and s[:2] == ["api", "d"]:
        info = version_of(app, s[2], s[3])
        if s[4] == "review":
            return api.save(app, request, info)
        if s[4] == "commit-review":
            return api.commit_review(app, request, info)
    raise NotFound("API endpoint", "/" + "/".join(s))
