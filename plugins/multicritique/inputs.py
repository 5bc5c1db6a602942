"""Reading input rows into work items, with the user's column mapping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datagen.errors import InvalidInput
from datagen.generator import Failure, stable_id

from . import prompts
from .options import MultiCritiqueOptions
from .records import Criterion, Unit, Verdict
from .tagging import TaggedResponse, tag_response


@dataclass
class Item:
    """One (query, response) pair and everything the steps learn about it."""

    input_id: str
    query: str
    response: str
    task_type: str
    user_criteria: list[str]
    given_reference: str
    tagged: TaggedResponse
    task: str = ""
    criteria: list[Criterion] = field(default_factory=list)
    reference: str = ""
    units: dict[int, list[Unit]] = field(default_factory=dict)  # agent -> its units
    verdicts: dict[int, Verdict] = field(default_factory=dict)  # agent -> summaries, score
    labels: dict[str, str] = field(default_factory=dict)  # unit id -> L0..L6
    reasons: dict[str, str] = field(default_factory=dict)  # unit id -> the judge's reason
    failed: bool = False

    @property
    def criteria_names(self) -> list[str]:
        return [c.name for c in self.criteria]

    @property
    def primary_names(self) -> list[str]:
        return list(dict.fromkeys(c.primary for c in self.criteria))

    def crucial_context(self) -> str:
        """Task description, criteria and reference, as the judge and aggregator see them."""
        return prompts.crucial_context(self.task, self.criteria, self.reference)

    def all_units(self) -> list[Unit]:
        return [u for agent in sorted(self.units) for u in self.units[agent]]


def read_items(
    rows: list[dict[str, Any]], options: MultiCritiqueOptions
) -> tuple[list[Item], list[Failure]]:
    """Turn input records into items; rows without a query or response become failures."""
    columns = options.columns
    _require_columns(rows, [columns.query, columns.response])
    items, failures = [], []
    for row in rows:
        query = as_query_text(row.get(columns.query))
        response = str(row.get(columns.response) or "").strip()
        input_id = str(row.get(columns.id) or stable_id(query, response))
        if not query.strip() or not response:
            failures.append(Failure("input", "the row has an empty query or response", input_id))
            continue
        task_type = str(row.get(columns.task_type) or options.default_task_type).strip().lower()
        items.append(
            Item(
                input_id=input_id,
                query=query,
                response=response,
                task_type=task_type,
                user_criteria=as_criteria_list(row.get(columns.criteria)),
                given_reference=str(row.get(columns.reference) or "").strip(),
                tagged=tag_response(response, task_type),
            )
        )
    return items, failures


def _require_columns(rows: list[dict[str, Any]], names: list[str]) -> None:
    if not rows:
        return
    present = set(rows[0])
    for name in names:
        if name not in present:
            raise InvalidInput(
                f"input has no column {name!r} (columns: {', '.join(sorted(present))});"
                " map yours with the option columns.query / columns.response"
            )


def as_query_text(value: Any) -> str:
    """A query is text or a conversation (list of {role, content}); render the latter."""
    if isinstance(value, list):
        return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in value)
    return str(value or "").strip()


def as_criteria_list(value: Any) -> list[str]:
    """User criteria as a list, or a text with one criterion per line or ';'."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = [p for line in value.splitlines() for p in line.split(";")]
    else:
        parts = [str(p) for p in value]
    return [p.strip() for p in parts if p and p.strip()]
