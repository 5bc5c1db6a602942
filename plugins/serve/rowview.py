"""A row in readable form: conversations, critiques with their cited sentences, pairs.

Recognised shapes (by value, not by dataset): a list of ``{"role", "content"}`` is a
conversation; ``chosen`` next to ``rejected`` is shown side by side; ``tagged_response``
lines ending in ``[S3]`` are the sentences critiques cite, and every ``[S3]`` in other text
is marked and linked to its sentence. Everything else is a labelled value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from datagen_plugins.serve.html import Markup, cell_text, folded, tag

CITE = re.compile(r"\[(S[1-9][0-9]*)\]")
TAGGED_LINE = re.compile(r"^(.*?)\s*\[(S[1-9][0-9]*)\]\s*$")
PAIR = ("chosen", "rejected")
SCALAR_TYPES = (int, float, bool)


def is_conversation(value: Any) -> bool:
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, dict) and "role" in m and "content" in m for m in value))


def cited_text(text: str) -> Markup:
    """Text with each ``[S3]`` marked as a citation (everything else escaped)."""
    parts: list[Any] = []
    position = 0
    for match in CITE.finditer(text):
        parts.append(text[position : match.start()])
        parts.append(tag("mark", match.group(0), class_="cite", data_tag=match.group(1)))
        position = match.end()
    parts.append(text[position:])
    return tag("span", parts)


def conversation(messages: list[dict[str, Any]]) -> Markup:
    turns = [
        tag("div", tag("div", str(m.get("role", "")), class_="role"),
            tag("div", cited_text(cell_text(m.get("content"))), class_="content"),
            class_=f"turn role-{_css_word(m.get('role'))}")
        for m in messages
    ]
    return tag("div", turns, class_="conversation")


def tagged_response(text: str, cited: set[str]) -> Markup:
    """The tagged sentences, each with its tag; cited ones highlighted."""
    sentences = []
    for line in text.splitlines():
        match = TAGGED_LINE.match(line)
        if not match:
            sentences.append(tag("div", line, class_="sentence"))
            continue
        words, name = match.group(1), match.group(2)
        classes = "sentence cited" if name in cited else "sentence"
        sentences.append(tag("div", tag("span", f"[{name}]", class_="stag"), " ", words,
                             class_=classes, id=f"sentence-{name}", data_tag=name))
    return tag("div", sentences, class_="tagged")


def units(items: list[Any]) -> Markup:
    """Critique units: severity, criterion, the sentences they cite, description."""
    rows = []
    for unit in items:
        if not isinstance(unit, dict):
            rows.append(tag("li", cell_text(unit)))
            continue
        tags = [tag("mark", f"[{t}]", class_="cite", data_tag=t) for t in unit.get("tags") or []]
        rows.append(tag(
            "li",
            tag("span", str(unit.get("severity", "")),
                class_=f"severity sev-{_css_word(unit.get('severity'))}"),
            " ", tag("b", str(unit.get("criterion", ""))), " ", tags,
            tag("div", cited_text(cell_text(unit.get("description")))),
            tag("div", "Suggestion: ", cited_text(cell_text(unit.get("suggestion"))),
                class_="suggestion") if unit.get("suggestion") else None,
        ))
    return tag("ol", rows, class_="units")


def cited_tags(row: dict[str, Any]) -> set[str]:
    """Every sentence tag the row's critique text or units cite."""
    found: set[str] = set()
    for unit in row.get("units") or []:
        if isinstance(unit, dict):
            found.update(str(t) for t in unit.get("tags") or [])
    for key, value in row.items():
        if key != "tagged_response" and isinstance(value, str):
            found.update(CITE.findall(value))
    return found


def render_row(row: dict[str, Any]) -> Markup:
    """The whole row: short fields first, then the readable parts, then the rest."""
    done: set[str] = set(PAIR) if all(k in row for k in PAIR) else set()
    blocks = [_facts(row, done)]
    done.difference_update(PAIR)
    if all(k in row for k in PAIR) and is_conversation(row.get("prompt")):
        blocks.append(_block("prompt", conversation(row["prompt"])))
        done.add("prompt")
    blocks.append(_pair(row, done))
    if isinstance(row.get("tagged_response"), str):
        blocks.append(_block("tagged_response (cited sentences highlighted)",
                             tagged_response(row["tagged_response"], cited_tags(row))))
        done.add("tagged_response")
    elif isinstance(row.get("response"), str) and cited_tags(row):
        blocks.append(_block("response, in the sentences the critiques cite",
                             tagged_response(_tagged(row), cited_tags(row))))
        done.add("response")
    if isinstance(row.get("units"), list):
        blocks.append(_block("units", units(row["units"])))
        done.add("units")
    for key, value in row.items():
        if key not in done:
            blocks.append(_block(key, value_view(value)))
    return tag("div", blocks, class_="row-view")


def value_view(value: Any) -> Markup:
    if is_conversation(value):
        return conversation(value)
    if isinstance(value, str):
        return _cited_folded(value)
    if isinstance(value, (dict, list)):
        return folded(json.dumps(value, ensure_ascii=False, indent=1, default=str))
    return tag("div", cell_text(value), class_="text")


def _cited_folded(text: str) -> Markup:
    if CITE.search(text) and len(text) < 20_000:
        return tag("div", cited_text(text), class_="text")
    return folded(text)


def _facts(row: dict[str, Any], done: set[str]) -> Markup:
    items = []
    for key, value in row.items():
        if key not in done and _is_short(value):
            items.append(tag("div", tag("dt", key), tag("dd", cell_text(value))))
            done.add(key)
    return tag("dl", items, class_="facts")


def _tagged(row: dict[str, Any]) -> str:
    """The response split into sentences and tagged the way MultiCritique tags it."""
    from datagen_plugins.multicritique.tagging import tag_response

    return tag_response(row["response"], str(row.get("task_type") or "")).text()


def _is_short(value: Any) -> bool:
    if value is None or isinstance(value, SCALAR_TYPES):
        return True
    if isinstance(value, list) and all(isinstance(v, SCALAR_TYPES + (str,)) for v in value):
        return len(cell_text(value)) <= 80
    return (isinstance(value, str) and len(value) <= 80 and "\n" not in value
            and not CITE.search(value))


def _pair(row: dict[str, Any], done: set[str]) -> Markup | None:
    if not all(k in row and k not in done for k in PAIR):
        return None
    done.update(PAIR)
    sides = [tag("div", tag("h3", side), value_view(row[side]), class_=f"side {side}")
             for side in PAIR]
    return tag("section", sides, class_="pair")


def _block(title: str, content: Markup) -> Markup:
    return tag("section", tag("h3", title), content, class_="field")


def _css_word(value: Any) -> str:
    return re.sub(r"[^a-z0-9-]", "", str(value or "").lower())[:20] or "none"
