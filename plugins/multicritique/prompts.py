"""The prompt texts of every step. Plain functions so each prompt reads top to bottom.

Label and severity levels are spelled out wherever a model must use them, so that every
agent, the judge and the aggregator apply the same scale.
"""

from __future__ import annotations

from collections.abc import Sequence

from .records import Criterion, Unit

SEVERITY_LEVELS = (
    "Severity levels:\n"
    "- Negligible: a blemish a reader would hardly notice; the answer is as useful with or"
    " without the fix.\n"
    "- Minor: a small slip (wording, format, a missing detail) that does not change whether"
    " the answer is right or usable.\n"
    "- Moderate: a real error or omission that makes part of the answer wrong or less useful,"
    " though its main point survives.\n"
    "- Severe: an error that makes the answer wrong, unsafe or useless for what was asked."
)

LABEL_LEVELS = (
    "Labels:\n"
    "- L0 correct: the flaw is real and the unit's criterion, severity, description and"
    " suggestion are all right.\n"
    "- L1 false alarm: the cited sentence has no such flaw; the unit should not exist.\n"
    "- L2 wrong criterion: the flaw is real, but it breaks a different criterion than the one"
    " named.\n"
    "- L3 wrong severity: the flaw is real, but it is rated more or less serious than it is.\n"
    "- L4 wrong description: the sentence has a problem, but the unit says the wrong thing"
    " about it.\n"
    "- L5 wrong or harmful suggestion: the flaw is right, but following the suggestion would"
    " not fix it or would make the answer worse.\n"
    "- L6 unhelpful suggestion: the suggestion is reasonable but too vague or too small to"
    " fix the flaw."
)

TAG_NOTE = "Each sentence of the response (each line, for code) ends with its tag, like [S1]."


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


def score_anchor(has_reference: bool, score_range: range) -> str:
    top = score_range.stop - 1
    if has_reference:
        return (
            f"Score from {score_range.start} to {top}. The reference response scores about 8:"
            " a response as good as the reference gets about 8, a better one more, a worse"
            " one less."
        )
    return (
        f"Score from {score_range.start} to {top}. A response that fully meets every"
        " criterion scores about 8; each flaw lowers the score by its severity."
    )


def crucial_context(task: str, criteria_list: Sequence[Criterion], ref: str) -> str:
    """Task description, criteria and reference (when there is one), as every judge sees them."""
    text = f"Task description:\n{task}\n\nCriteria:\n{format_criteria(criteria_list)}"
    if ref:
        text += f"\n\nReference response (for comparison):\n{ref}"
    return text


REVIEW_INTRO = (
    "This is a review case: a user's query, the crucial information for judging a response"
    " to it (what the query asks, the criteria, and a reference response when there is"
    f" one) and the response under review. {TAG_NOTE} Reviewers write critique units about"
    " flawed sentences, each with a severity."
)


def review_case(query: str, tagged_response: str, context: str) -> str:
    """How the critique, meta-critique and aggregation prompts all begin.

    The severity scale comes first and is the same for every response, then this case;
    the step's own instructions follow. So every step about one response starts with the
    same text, which a backend that keeps prompt prefixes reads once for all of them.
    """
    return (
        f"{REVIEW_INTRO}\n\n{SEVERITY_LEVELS}\n\n"
        f"Query:\n{query}\n\n{context}\n\nResponse:\n{tagged_response}"
    )


def critique(
    query: str, tagged_response: str, task: str, criteria_list: Sequence[Criterion], ref: str,
    score_range: range,
) -> str:
    case = review_case(query, tagged_response, crucial_context(task, criteria_list, ref))
    return (
        f"{case}\n\nCritique the response. For each flawed sentence write one unit: the"
        " tag(s) it is about, the one fine-grained criterion it breaks, what is wrong, the"
        " severity and how to fix it. Write no unit for a flawless sentence. Then write a"
        " summary for each primary criterion and a score.\n\n"
        f"{score_anchor(bool(ref), score_range)}\n\n"
        "Answer in JSON with the keys units, summaries and score."
    )


def meta_label(
    query: str, tagged_response: str, context: str, units: Sequence[Unit], index: int
) -> str:
    """Label ``units[index]``; every other unit on the response is context.

    All units come first and the number of the one to label last, so the judge's requests
    for one response differ only in their last line.
    """
    unit_block = "\n".join(f"{i}. {format_unit(u)}" for i, u in enumerate(units, 1))
    tags = " ".join(f"[{t}]" for t in units[index].tags)
    return (
        f"{review_case(query, tagged_response, context)}\n\n"
        f"Several reviewers critiqued the response. Their units:\n{unit_block}\n\n"
        f"A judge checks each unit with one of these labels.\n{LABEL_LEVELS}\n\n"
        "Label one of these units with the level that fits it best, and give the reason;"
        " the other units are context only. Answer in JSON with the keys label and reason.\n"
        f"The unit to label: number {index + 1} (on {tags})."
    )


def aggregate(
    query: str,
    tagged_response: str,
    context: str,
    primary: Sequence[str],
    kept: Sequence[Unit],
    repairable: Sequence[tuple[Unit, str]],
    anchor: str,
) -> str:
    """``repairable`` pairs each fixable unit with what the judge found wrong in it."""
    kept_block = "\n".join(f"- {format_unit(u)}" for u in kept) or "(none)"
    repair_block = "\n".join(
        f"{i}. {format_unit(u)}\n   judge: {why}" for i, (u, why) in enumerate(repairable, 1)
    )
    repair_text = (
        "\n\nUnits with a fixable fault (for each, by number, write the corrected criterion,"
        f" severity, description and suggestion):\n{repair_block}"
        if repairable
        else ""
    )
    return (
        f"{review_case(query, tagged_response, context)}\n\n"
        "Several reviewers critiqued the response and a judge checked their units.\n\n"
        f"Correct units:\n{kept_block}{repair_text}\n\n"
        "Write the final critique: repair the fixable units, a summary for each primary"
        f" criterion ({', '.join(primary)}) and an overall score.\n\n{anchor}\n\nAnswer in JSON."
    )


def revision(query: str, tagged_response: str, critique_text: str) -> str:
    return (
        f"Revise the response following the critique. {TAG_NOTE} The critique cites these"
        " tags. Fix every flaw it names, keep what is right, and write the revised response"
        " as plain text without tags.\n\n"
        f"Query:\n{query}\n\nResponse:\n{tagged_response}\n\nCritique:\n{critique_text}\n\n"
        "Answer in JSON with the key revised_response."
    )


def score(query: str, response: str, score_range: range) -> str:
    return (
        f"Rate the response to the query from {score_range.start} (useless or wrong) to"
        f" {score_range.stop - 1} (perfect); a very good response scores about 8.\n\n"
        f"Query:\n{query}\n\nResponse:\n{response}\n\nAnswer in JSON with the key score."
    )


# -- the critic's conversation (SFT and preference rows) -----------------------------------


def critic_first_turn(query: str, tagged_response: str) -> str:
    """What a critic model is asked first: the crucial information for this response."""
    return (
        f"You will critique a response to a query. {TAG_NOTE} First write the crucial"
        " information: what the query really asks (task description), the criteria to judge"
        " a response by (primary dimensions, each with fine-grained criteria and their"
        " importance), and a reference response unless the task is math or code.\n\n"
        f"Query:\n{query}\n\nResponse:\n{tagged_response}"
    )


def critic_second_turn(score_range: range, has_reference: bool) -> str:
    """The follow-up: the critique itself, against the crucial information just written."""
    anchor = score_anchor(has_reference, score_range)
    return (
        "Now critique the response against these criteria. For every flawed sentence cite"
        " its tag, name the fine-grained criterion it breaks, describe the flaw, rate its"
        " severity and suggest a revision. Skip flawless sentences. End with a summary for"
        f" each primary criterion and a score.\n\n{SEVERITY_LEVELS}\n\n{anchor}"
    )


def render_crucial_info(task: str, criteria_list: Sequence[Criterion], ref: str) -> str:
    """The crucial information as the critic writes it: task, two-tier criteria, reference."""
    lines = [f"Task description:\n{task}", "", "Criteria:"]
    for primary in dict.fromkeys(c.primary for c in criteria_list):
        lines.append(f"- {primary}")
        lines.extend(
            f"  - {c.name} ({c.importance}): {c.description}"
            for c in criteria_list
            if c.primary == primary
        )
    if ref:
        lines += ["", f"Reference response:\n{ref}"]
    return "\n".join(lines)


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
