"""HTML building with escaping by default.

Every string is escaped unless it is ``Markup`` (already safe HTML built here). Pages are
built from ``tag(...)`` calls, so model output can never become markup.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

FOLD_CHARS = 600


class Markup(str):
    """A string of HTML that is safe to emit as it is."""


Child = Any  # str, Markup, numbers, None, or iterables of those


def esc(value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def join(children: Iterable[Child]) -> Markup:
    return Markup("".join(render(c) for c in children))


def render(child: Child) -> Markup:
    if child is None:
        return Markup("")
    if isinstance(child, str):
        return esc(child)
    if isinstance(child, (list, tuple)) or hasattr(child, "__next__"):
        return join(child)
    return esc(child)


def tag(name: str, /, *children: Child, **attrs: Any) -> Markup:
    """``tag("a", "text", href="/x", class_="y")``; ``None``/``False`` attributes are left out."""
    parts = [name]
    for key, value in attrs.items():  # name_="x" for an attribute called name
        if value is None or value is False:
            continue
        attr = key.rstrip("_").replace("_", "-")
        parts.append(attr if value is True else f'{attr}="{esc(value)}"')
    if name in ("input", "meta", "link", "br"):
        return Markup(f"<{' '.join(parts)}>")
    return Markup(f"<{' '.join(parts)}>{join(children)}</{name}>")


def link(text: Child, href: str, **attrs: Any) -> Markup:
    return tag("a", text, href=href, **attrs)


def url(*segments: Any, **params: Any) -> str:
    """A path from segments (each percent-encoded) plus a query string."""
    path = "/" + "/".join(quote(str(s), safe="@") for s in segments)
    query = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urlencode(query, doseq=True) if query else "")


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def short(value: Any, width: int = 120) -> str:
    text = cell_text(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def folded(text: str, limit: int = FOLD_CHARS) -> Markup:
    """Long text folded behind a summary of its start."""
    if len(text) <= limit:
        return tag("div", text, class_="text")
    summary = tag("summary", text[:limit // 3].replace("\n", " ") + "…",
                  f" ({len(text)} characters)")
    return tag("details", summary, tag("div", text, class_="text"), class_="fold")


def table(columns: list[str], rows: Iterable[list[Child]], **attrs: Any) -> Markup:
    head = tag("thead", tag("tr", [tag("th", c) for c in columns]))
    body = tag("tbody", [tag("tr", [tag("td", v) for v in row]) for row in rows])
    return tag("table", head, body, **attrs)


def layout(title: str, body: Child, *, csrf: str,
           crumbs: Iterable[tuple[str, str]] = ()) -> str:
    trail: list[Any] = [link("datagen", "/")]
    for text, href in crumbs:
        trail += [" / ", link(text, href)]
    nav = tag("nav", tag("span", trail, class_="crumbs"), tag("span", [
        link("builds", "/builds"), " ", link("failures", "/failures"), " ", link("SQL", "/sql"),
    ], class_="menu"))
    head = tag("head", tag("meta", charset="utf-8"), tag("title", title + " · datagen"),
               tag("meta", name="csrf-token", content=csrf),
               tag("meta", name="viewport", content="width=device-width, initial-scale=1"),
               tag("link", rel="stylesheet", href="/static/style.css"),
               tag("script", src="/static/app.js", defer=True))
    page = tag("html", head, tag("body", nav, tag("main", tag("h1", title), body)), lang="en")
    return "<!doctype html>\n" + page
