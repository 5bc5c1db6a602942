"""The prompt texts of every step. Plain functions so each prompt reads top to bottom."""

from __future__ import annotations

from collections.abc import Sequence

from .records import Criterion, Unit


def task_description(query: str) -> str:
    return (
        "Read the user's query and state in two or three sentences what it really asks for:"
        " the goal, the constraints and what a good answer must contain.\n\n"
        f"Query:\n{query}\n\nAnswer in JSON with the key task_description."
    )


def criteria(query: str, task: str, user_criteria: Sequence[str], limits: tuple[int, int]) -> str:
    max_primary, max_fine = limits
    given = ""
    if user_criteria:
        listed = "\n".join(f"- {c}" for c in user_criteria)
        given = (
            f"\nThe user asked for these criteria; keep each as a primary dimension:\n{listed}\n"
        )
    return (
        "Write the criteria for judging a response to this query. Give up to"
        f" {max_primary} primary dimensions, each with 1 to {max_fine} fine-grained criteria"
        " (name, one-sentence description, importance normal, medium or important).\n\n"
        f"Query:\n{query}\n\nTask description:\n{task}\n{given}\n"
        "Answer in JSON with the key primary."
    )


def reference(query: str, task: str, criteria_list: Sequence[Criterion]) -> str:
    return (
        "Write a high-quality response to the query that meets every criterion.\n\n"
        f"Query:\n{query}\n\nTask description:\n{task}\n\n"
        f"Criteria:\n{format_criteria(criteria_list)}\n\nAnswer in JSON with the key reference."
    )


def critique_request(query: str, tagged_response: str) -> str:
    """The user turn of the SFT and preference records: what a critic model is asked."""
    return (
        "Critique the response to the query. Each sentence of the response ends with a tag"
        " like [S1]. For every flawed sentence, cite its tag, name the criterion it breaks,"
        " describe the flaw, rate its severity (Negligible, Minor, Moderate, Severe) and"
        " suggest a revision. Skip flawless sentences. End with a summary and a score"
        " from 1 to 10.\n\n"
        f"Query:\n{query}\n\nResponse:\n{tagged_response}"
    )


def critique(
    query: str, tagged_response: str, task: str, criteria_list: Sequence[Criterion], ref: str
) -> str:
    reference_block = f"\n\nReference response (for comparison):\n{ref}" if ref else ""
    return (
        "Critique the response below. Each sentence ends with a tag like [S1]. For each flawed"
        " sentence write one unit: the tag(s) it is about, the one criterion it breaks,"
        " what is wrong, the severity (Negligible, Minor, Moderate or Severe) and how to fix"
        " it. Write no unit for a flawless sentence.\n\n"
        f"Query:\n{query}\n\nTask description:\n{task}\n\n"
        f"Criteria:\n{format_criteria(criteria_list)}{reference_block}\n\n"
        f"Response:\n{tagged_response}\n\nAnswer in JSON with the key units."
    )


def meta_label(query: str, tagged_response: str, unit: Unit) -> str:
    return (
        "A reviewer wrote one critique unit about a response. Label the unit:\n"
        "L0 correct; L1 the cited sentence is actually fine; L2 wrong criterion;"
        " L3 wrong severity; L4 wrong description of the flaw; L5 wrong or harmful"
        " suggestion; L6 reasonable but unhelpful suggestion.\n\n"
        f"Query:\n{query}\n\nResponse:\n{tagged_response}\n\nUnit:\n{format_unit(unit)}\n\n"
        "Answer in JSON with the keys label and reason."
    )


def aggregate(
    query: str,
    tagged_response: str,
    primary: Sequence[str],
    kept: Sequence[Unit],
    repairable: Sequence[Unit],
    score_range: range,
) -> str:
    kept_block = "\n".join(format_unit(u) for u in kept) or "(none)"
    repair_block = "\n".join(f"{i}. {format_unit(u)}" for i, u in enumerate(repairable, 1))
    repair_text = (
        f"\n\nUnits with a fixable problem (repair the criterion, severity or suggestion of"
        f" each, by number):\n{repair_block}"
        if repairable
        else ""
    )
    return (
        "Several reviewers critiqued this response and a judge checked their units. Write the"
        f" final critique: a short summary for each primary criterion ({', '.join(primary)})"
        f" and an overall score from {score_range.start} to {score_range.stop - 1}"
        " (a very good response scores about 8).\n\n"
        f"Query:\n{query}\n\nResponse:\n{tagged_response}\n\n"
        f"Correct units:\n{kept_block}{repair_text}\n\nAnswer in JSON."
    )


def revision(query: str, response: str, critique_text: str) -> str:
    return (
        "Revise the response following the critique. Fix every flaw it names and keep"
        " what is right.\n\n"
        f"Query:\n{query}\n\nResponse:\n{response}\n\nCritique:\n{critique_text}\n\n"
        "Answer in JSON with the key revised_response."
    )


def score(query: str, response: str, score_range: range) -> str:
    return (
        f"Rate the response to the query from {score_range.start} (useless or wrong) to"
        f" {score_range.stop - 1} (perfect).\n\nQuery:\n{query}\n\nResponse:\n{response}\n\n"
        "Answer in JSON with the key score."
    )


def format_criteria(criteria_list: Sequence[Criterion]) -> str:
    return "\n".join(
        f"- {c.name} ({c.primary}, {c.importance}): {c.description}" for c in criteria_list
    )


def format_unit(unit: Unit) -> str:
    tags = " ".join(f"[{t}]" for t in unit.tags)
    return (
        f"{tags} criterion: {unit.criterion}; severity: {unit.severity}; flaw: {unit.description};"
        f" suggestion: {unit.suggestion}"
    )
