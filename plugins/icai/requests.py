"""Requests and bounded answer schemas for the three model steps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datagen.llm import ChatRequest
from datagen.shapes import bounded_list, choice, strict_object, text

from . import prompts
from .logic import VOTE_ANSWERS
from .options import RULE_PREFIX, AnnotateOptions, ConstitutionOptions

CHARS_PER_WORD = 9  # generous: a word and its space, on average well under this
LONGEST_WORD = 24  # characters of one word of a rule
# the answer key reads as the rule's start, so the value is the words that finish it
RULE_KEY = "_".join(RULE_PREFIX.lower().split())


def propose_schema(rules: int, max_words: int) -> dict[str, Any]:
    tail_words = max_words - len(RULE_PREFIX.split())
    tail = {**text(tail_words * CHARS_PER_WORD), "pattern": words_pattern(tail_words)}
    rule = strict_object({RULE_KEY: tail})
    return strict_object({"rules": bounded_list(rule, rules, min_items=rules)})


def words_pattern(words: int) -> str:
    """At most ``words`` words, one space apart: a grammar that follows the schema cannot
    write a rule over the word limit (a length in characters alone let short words through)."""
    word = rf'[^ "\\\n\t]{{1,{LONGEST_WORD}}}'
    return rf"^{word}( {word}){{0,{words - 1}}}$"


def vote_schema(count: int) -> dict[str, Any]:
    return strict_object({str(n): choice(VOTE_ANSWERS) for n in range(1, count + 1)})


JUDGE_SCHEMA = strict_object({"preferred": choice(("A", "B"))})


def propose_request(options: ConstitutionOptions, prompt: str, preferred: str,
                    other: str) -> ChatRequest:
    user = prompts.propose(prompt, preferred, other, options.rules_per_pair, options.max_words)
    return _request(options, "propose", user,
                    propose_schema(options.rules_per_pair, options.max_words),
                    options.max_tokens.propose)


def vote_request(options: ConstitutionOptions, prompt: str, shown: tuple[str, str],
                 rules: Sequence[str]) -> ChatRequest:
    user = prompts.vote(prompt, shown[0], shown[1], rules)
    return _request(options, "vote", user, vote_schema(len(rules)), options.max_tokens.vote)


def judge_request(options: AnnotateOptions | ConstitutionOptions, prompt: str,
                  shown: tuple[str, str], rules: Sequence[str]) -> ChatRequest:
    user = prompts.judge(prompt, shown[0], shown[1], rules)
    return _request(options, "judge", user, JUDGE_SCHEMA, options.max_tokens.judge)


def _request(options: Any, step: str, user: str, schema: dict[str, Any],
             max_tokens: int) -> ChatRequest:
    return ChatRequest.chat(user, step=step, json_schema=schema, max_tokens=max_tokens,
                            temperature=options.temperature, seed=options.seed)
