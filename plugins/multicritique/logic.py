"""The pure decisions of MultiCritique: penalties, merging, pairing, revision checks.

Kept apart from the model calls so each rule of the method is a small function a test
can pin down with plain values.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import mean

from .options import SEVERITIES
from .records import Unit


def accumulated_severity(labels: Iterable[str], penalties: Mapping[str, int]) -> int:
    """A critique's accumulated severity: the sum of its units' meta-critique penalties."""
    return sum(penalties[label] for label in labels)


def merge_duplicates(units: Sequence[Unit]) -> list[Unit]:
    """Merge units that describe the same flaw: the same tags and the same criterion.

    Units that share a tag but name different criteria are different flaws of one sentence
    and stay apart. The most severe unit of a group leads.
    """
    groups: dict[tuple[tuple[str, ...], str], list[Unit]] = {}
    for unit in units:
        key = (tuple(sorted(unit.tags, key=_tag_number)), unit.criterion)
        groups.setdefault(key, []).append(unit)
    merged = [_merge_group(group) for group in groups.values()]
    return sorted(merged, key=lambda u: (_tag_number(u.tags[0]), len(u.tags), u.criterion))


def _merge_group(group: list[Unit]) -> Unit:
    if len(group) == 1:
        only = group[0]
        return Unit(**{**only.as_dict(), "sources": only.sources or [only.id]})
    lead = max(group, key=lambda u: SEVERITIES.index(u.severity))
    tags = sorted({t for u in group for t in u.tags}, key=_tag_number)
    return Unit(
        tags=tags,
        criterion=lead.criterion,
        description=_join_unique(u.description for u in [lead, *group]),
        severity=lead.severity,
        suggestion=_join_unique(u.suggestion for u in [lead, *group]),
        agent=-1,
        sources=[s for u in group for s in (u.sources or [u.id])],
    )


def _join_unique(texts: Iterable[str]) -> str:
    return " ".join(dict.fromkeys(t for t in texts if t))


def _tag_number(tag: str) -> int:
    return int(tag[1:])


@dataclass(frozen=True)
class Pair:
    chosen: int  # agent index of the lower-severity critique
    rejected: int
    gap: int


def preference_pairs(
    severities: Mapping[int, int], min_gap: int, max_pairs: int | None = None
) -> list[Pair]:
    """Pairs of agents whose accumulated severities differ by at least ``min_gap``, the
    largest gaps first, at most ``max_pairs``."""
    pairs = []
    for a, b in combinations(sorted(severities), 2):
        gap = abs(severities[a] - severities[b])
        if gap >= min_gap and gap > 0:
            chosen, rejected = (a, b) if severities[a] < severities[b] else (b, a)
            pairs.append(Pair(chosen, rejected, gap))
    pairs.sort(key=lambda p: (-p.gap, p.chosen, p.rejected))
    return pairs if max_pairs is None else pairs[:max_pairs]


def response_flawed(labels: Iterable[str], flaw_labels: Collection[str]) -> bool:
    """Whether the meta-critique confirms a real flaw in the response: some agent's unit got
    a label saying the cited sentence is flawed (correct, or wrong only in its details)."""
    return any(label in flaw_labels for label in labels)


def empty_critique_may_win(chosen_units: int, flawed: bool) -> bool:
    """An empty critique ("no flaws") may be chosen only for a response with no known flaw."""
    return chosen_units > 0 or not flawed


def revisions_confirm(chosen_scores: Sequence[float], rejected_scores: Sequence[float]) -> bool:
    """Keep a pair only if revising along the chosen critique scores higher on average."""
    if not chosen_scores or not rejected_scores:
        return False
    return mean(chosen_scores) > mean(rejected_scores)


def final_answer(text: str) -> str | None:
    """The last number in a text (math answers): '#### 42', 'x = 3.5', 'is 391.'."""
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    if not numbers:
        return None
    value = numbers[-1].replace(",", "")
    return value.rstrip("0").rstrip(".") if "." in value else value


def exact_match_score(revision: str, reference: str, score_range: range) -> int:
    """Top score when the revision's final answer equals the reference's, else the lowest."""
    expected = final_answer(reference)
    matched = expected is not None and final_answer(revision) == expected
    return score_range.stop - 1 if matched else score_range.start


def render_units(units: Sequence[Unit]) -> str:
    lines = []
    for unit in units:
        tags = " ".join(f"[{t}]" for t in unit.tags)
        lines.append(
            f"{tags} {unit.criterion} ({unit.severity}): {unit.description}"
            f" Suggestion: {unit.suggestion}"
        )
    return "\n".join(lines) if lines else "No flaws found."


def render_critique(
    units: Sequence[Unit], summaries: Sequence[Mapping[str, str]], score: int, top: int
) -> str:
    """A complete critique (units, per-criterion summaries, score): the one format of the
    SFT assistant turn and of both sides of a preference pair."""
    summary_lines = "\n".join(f"- {s['criterion']}: {s['summary']}" for s in summaries)
    return f"Flaws:\n{render_units(units)}\n\nSummary:\n{summary_lines}\n\nScore: {score}/{top}"
