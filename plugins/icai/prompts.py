"""The prompt texts of every step, as plain functions that read top to bottom."""

from __future__ import annotations

from collections.abc import Sequence

from .options import RULE_PREFIX


def _pair_block(prompt: str, first: str, second: str) -> str:
    asked = f"Request:\n{prompt}\n\n" if prompt else ""
    return f"{asked}Response A:\n{first}\n\nResponse B:\n{second}"


def propose(prompt: str, preferred: str, other: str, rules: int, max_words: int) -> str:
    """Ask for the rules that would explain why an annotator picked ``preferred``."""
    tail_words = max_words - len(RULE_PREFIX.split())
    rule_key = "_".join(RULE_PREFIX.lower().split())
    return (
        "An annotator compared two responses and preferred response A over response B.\n\n"
        f"{_pair_block(prompt, preferred, other)}\n\n"
        f"Write {rules} short, general rules that explain this choice and could guide other"
        f" choices too: each says in at most {tail_words} words what response A does better."
        f" Answer in JSON: a list rules of objects with the one key {rule_key}, whose value"
        " is the rule."
    )


def vote(prompt: str, first: str, second: str, rules: Sequence[str]) -> str:
    """Ask which response each numbered rule selects."""
    listed = "\n".join(f"{number}. {rule}" for number, rule in enumerate(rules, 1))
    return (
        f"{_pair_block(prompt, first, second)}\n\n"
        "For each numbered rule below, say which response the rule selects: \"A\", \"B\","
        " \"both\" if both satisfy it equally, or \"none\" if it does not apply to these"
        f" responses.\n\nRules:\n{listed}\n\n"
        "Answer in JSON with one key per rule number."
    )


def judge(prompt: str, first: str, second: str, rules: Sequence[str]) -> str:
    """Ask for the better response, following the rules where they apply."""
    if rules:
        listed = "\n".join(f"- {rule}" for rule in rules)
        guide = (f"Follow these rules where they apply; where none applies, pick either"
                 f" response at random.\nRules:\n{listed}\n\n")
    else:
        guide = ""
    return (
        f"{_pair_block(prompt, first, second)}\n\n{guide}"
        "Which response is better? Answer in JSON with the key preferred, \"A\" or \"B\"."
    )
