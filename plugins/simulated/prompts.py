"""The words the simulated annotators, systems and users are given (plain functions)."""

from __future__ import annotations

from collections.abc import Sequence

from .logic import Turn
from .options import Annotator

_VERDICT_FORMAT = (
    'Reply with JSON only: {"preferred": 1} if Output 1 is better, {"preferred": 2} if'
    " Output 2 is better. You must pick one."
)
_REASONED_FORMAT = (
    'Reply with JSON only: {"reason": "<one short sentence>", "preferred": 1 or 2}, where'
    " preferred names the better output. You must pick one."
)


def annotator_system(annotator: Annotator) -> str:
    form = _REASONED_FORMAT if annotator.template == "reasoned" else _VERDICT_FORMAT
    return f"{annotator.instructions}\n\n{form}"


def annotator_prompt(instruction: str, first: str, second: str, max_chars: int) -> str:
    """The request and the two outputs, in the order they are shown."""
    return (
        f"Request:\n{instruction.strip()}\n\n"
        f"Output 1:\n{_cut(first, max_chars)}\n\n"
        f"Output 2:\n{_cut(second, max_chars)}\n\n"
        "Which output answers the request better?"
    )


def _cut(text: str, max_chars: int) -> str:
    text = text.strip()
    return text if len(text) <= max_chars else text[:max_chars] + " [...]"


SYSTEM_ANSWER = (
    "You are a search assistant. Answer the user's latest message in a few sentences,"
    " taking into account everything they told you earlier in the conversation."
)

SYSTEM_CLARIFY = (
    "You are a search assistant. Before answering, ask the user one short question that"
    " would help you find what they really want. Reply with the question only."
)


def user_setup(need: str) -> str:
    return (
        "You are role-playing a person who is looking for information with a search"
        f" assistant. What you want to find out (keep this to yourself): {need.strip()}\n"
        "Stay the person at all times: never answer as the assistant, never offer help."
    )


def transcript(turns: Sequence[Turn]) -> str:
    speaker = {"user": "You", "system": "Assistant"}
    return "\n".join(f"{speaker[t.participant]}: {t.utterance}" for t in turns)


def user_clarifying_answer(need: str, turns: Sequence[Turn]) -> str:
    return (
        f"{user_setup(need)}\n\nThe conversation so far:\n{transcript(turns)}\n\n"
        "The assistant just asked you a question. Answer it as the person, in one or two"
        " short sentences of your own words. Do not copy the sentence describing what you"
        ' want. Reply with JSON only: {"reply": "..."}'
    )


def user_feedback(need: str, turns: Sequence[Turn]) -> str:
    return (
        f"{user_setup(need)}\n\nThe conversation so far:\n{transcript(turns)}\n\n"
        "Judge the assistant's last answer against what you want. verdict is"
        ' "satisfied" if it gives you what you want, "too_vague" if it is on topic but not'
        ' specific enough, "not_what_i_asked" if it is about something else. reply is what'
        " you say back to the assistant, as the person: thank it if satisfied, otherwise say"
        " in your own words what is missing. Reply with JSON only:"
        ' {"verdict": "...", "reply": "..."}'
    )
