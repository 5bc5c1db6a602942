"""The critic's conversation, shared by the SFT rows and both sides of a preference pair.

As in the paper, the critic is trained to write the crucial information (task description,
criteria, reference where there is one) and then the critique. ``multi_turn`` asks for them
in two turns; ``single_turn`` asks once and answers with both.
"""

from __future__ import annotations

from . import prompts
from .inputs import Item
from .options import MultiCritiqueOptions

Messages = list[dict[str, str]]


def critic_conversation(
    item: Item, options: MultiCritiqueOptions, critique_text: str
) -> tuple[Messages, Messages]:
    """(prompt, completion): every turn before the final critique, and the turn(s) after."""
    first = prompts.critic_first_turn(item.query, item.tagged.text())
    second = prompts.critic_second_turn(options.score_range, bool(item.reference))
    crucial = prompts.render_crucial_info(item.task, item.criteria, item.reference)
    if options.sft_turns == "single_turn":
        return (
            [_turn("user", f"{first}\n\n{second}")],
            [_turn("assistant", f"{crucial}\n\n{critique_text}")],
        )
    prompt = [_turn("user", first), _turn("assistant", crucial), _turn("user", second)]
    return prompt, [_turn("assistant", critique_text)]


def _turn(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}
