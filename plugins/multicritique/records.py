"""The values MultiCritique passes between its steps, and their checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from datagen.steps import CheckFailed

from .options import IMPORTANCE, SEVERITIES

__all__ = [
    "CheckFailed",
    "Criterion",
    "Unit",
    "Verdict",
    "check_unit",
    "parse_criteria",
    "parse_summaries",
    "parse_units",
]


@dataclass(frozen=True)
class Criterion:
    """One fine-grained criterion under its primary dimension."""

    primary: str
    name: str
    description: str
    importance: str = "normal"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Unit:
    """An analytical critique unit (ACU): one flaw in one or more tagged sentences."""

    tags: list[str]
    criterion: str
    description: str
    severity: str
    suggestion: str
    agent: int = -1
    id: str = ""
    sources: list[str] = field(default_factory=list)  # unit ids merged into this one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """What closes a critique: one summary per primary criterion and an overall score."""

    summaries: list[dict[str, str]]
    score: int


def parse_summaries(data: Any) -> list[dict[str, str]]:
    """One summary per primary criterion (the first one wins), or ``CheckFailed``."""
    summaries: dict[str, str] = {}
    for entry in data.get("summaries", []):
        summaries.setdefault(entry["criterion"], _clean(entry["summary"]))
    if not summaries:
        raise CheckFailed("the critique has no summary")
    return [{"criterion": c, "summary": s} for c, s in summaries.items()]


def parse_criteria(
    data: Any, user_criteria: list[str], max_criteria: int, max_fine: int
) -> list[Criterion]:
    """Flatten the two-tier answer, keep user criteria as primary, cap the total."""
    found: list[Criterion] = []
    seen: set[str] = set()
    for primary in data.get("primary", []):
        primary_name = _clean(primary.get("name", ""))
        for fine in primary.get("fine_grained", [])[:max_fine]:
            name = _clean(fine.get("name", ""))
            if not primary_name or not name or name.lower() in seen:
                continue
            seen.add(name.lower())
            importance = fine.get("importance", "normal")
            if importance not in IMPORTANCE:
                importance = "normal"
            found.append(
                Criterion(primary_name, name, _clean(fine.get("description", "")), importance)
            )
    found = _with_user_criteria(found, user_criteria, seen)
    if not found:
        raise CheckFailed("the criteria answer names no usable criterion")
    return found[:max_criteria]


def _with_user_criteria(
    found: list[Criterion], user_criteria: list[str], seen: set[str]
) -> list[Criterion]:
    """User criteria come first so the cap never drops them."""
    primaries = {c.primary.lower() for c in found}
    added = []
    for wanted in user_criteria:
        wanted = _clean(wanted)
        if wanted and wanted.lower() not in primaries and wanted.lower() not in seen:
            added.append(Criterion(wanted, wanted, "given by the user", "important"))
            seen.add(wanted.lower())
    user_first = [c for c in found if c.primary.lower() in {u.lower() for u in user_criteria}]
    rest = [c for c in found if c not in user_first]
    return added + user_first + rest


def parse_units(
    data: Any, tags: tuple[str, ...], criteria_names: list[str], max_units: int
) -> list[Unit]:
    """Read an agent's units; any unit citing an unknown tag or criterion fails the check."""
    units = []
    for raw in data.get("units", [])[:max_units]:
        unit = Unit(
            tags=list(dict.fromkeys(raw.get("tags", []))),
            criterion=raw.get("criterion", ""),
            description=_clean(raw.get("description", "")),
            severity=raw.get("severity", ""),
            suggestion=_clean(raw.get("suggestion", "")),
        )
        check_unit(unit, tags, criteria_names)
        units.append(unit)
    return units


def check_unit(unit: Unit, tags: tuple[str, ...], criteria_names: list[str]) -> None:
    if not unit.tags:
        raise CheckFailed("a unit cites no tag")
    unknown = [t for t in unit.tags if t not in tags]
    if unknown:
        raise CheckFailed(
            f"a unit cites tag {unknown[0]!r}, not in the response (has S1..S{len(tags)})"
        )
    if unit.criterion not in criteria_names:
        raise CheckFailed(
            f"a unit names criterion {unit.criterion!r}, not among the query's criteria"
        )
    if unit.severity not in SEVERITIES:
        raise CheckFailed(
            f"a unit has severity {unit.severity!r}; allowed: {', '.join(SEVERITIES)}"
        )


def _clean(value: Any) -> str:
    return " ".join(str(value).split())
