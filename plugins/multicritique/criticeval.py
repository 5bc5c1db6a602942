"""Reading CriticEval feedback files (``test_*_feedback_obj.json``) as critique inputs.

Each item holds the whole judging prompt in ``origin_prompt``; the query and the response
sit between ``### <Question|Math Question|...>:`` and ``### <Answer|Rationale|Code|...>:``
headings. This pulls them out so the items can feed ``critique-sft`` as JSONL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from datagen.errors import InvalidInput

_HEADING = re.compile(r"^\s*### ([^:\n]+):[ \t]*", re.MULTILINE)
_QUERY_HEADINGS = ("question", "math question", "code question context", "instruction")
_RESPONSE_HEADINGS = ("answer", "rationale", "code", "response", "summary", "translation")
_TASK_TYPES = {"math": "math", "code": "code", "qa": "qa", "chat": "chat"}


def split_origin_prompt(prompt: str) -> tuple[str, str]:
    """(query, response) from one CriticEval ``origin_prompt``; an empty response is kept
    (the build reports it as a failed input rather than hiding it)."""
    sections = _sections(prompt)
    query = next((sections[h] for h in _QUERY_HEADINGS if h in sections), "")
    response = next((sections[h] for h in _RESPONSE_HEADINGS if h in sections), "")
    if not query:
        raise ValueError(f"no query heading among {sorted(sections)}")
    return query, response


def _sections(prompt: str) -> dict[str, str]:
    body = prompt.split("---\nNow,")[0]
    matches = list(_HEADING.finditer(body))
    sections = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following else len(body)
        text = body[match.end() : end].strip().removesuffix("---").strip()
        sections[match.group(1).strip().lower()] = text
    return sections


def task_type_of(path: Path) -> str:
    """``test_math_cot_feedback_obj.json`` -> ``math``."""
    kind = path.name.removeprefix("test_").split("_")[0]
    return _TASK_TYPES.get(kind, kind)


def read_criticeval(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Input records (id, task_type, query, response) from one CriticEval file."""
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"not a CriticEval feedback file: {exc}", path=str(path)) from None
    records = []
    for key in sorted(items, key=lambda k: int(k) if str(k).isdigit() else 0)[:limit]:
        try:
            query, response = split_origin_prompt(items[key]["origin_prompt"])
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"item {key}: {exc}", path=str(path)) from None
        records.append(
            {
                "id": f"{Path(path).stem}-{key}",
                "task_type": task_type_of(Path(path)),
                "query": query,
                "response": response,
            }
        )
    return records
