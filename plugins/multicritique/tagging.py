"""Sentence tagging: the anchors every critique unit cites.

Critiques point at ``[S1]``, ``[S2]``, ... instead of quoting, so a unit's claim can be
checked against the exact sentence (or code line) it is about. Pure Python, no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CODE_TASK_TYPES = frozenset({"code", "coding", "programming"})
MATH_TASK_TYPES = frozenset({"math", "mathematics", "arithmetic"})

# A sentence ends at . ! or ? followed by whitespace, unless the dot belongs to a number
# ("3.5") or a short abbreviation ("e.g.", "Dr.").
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_ABBREVIATION = re.compile(r"(?:\b[A-Za-z]\.|\b(?:e\.g|i\.e|etc|vs|Dr|Mr|Mrs|Ms|St|No)\.)$")


@dataclass(frozen=True)
class TaggedResponse:
    """A response split into tagged pieces, in order."""

    pieces: tuple[str, ...]

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(f"S{i}" for i in range(1, len(self.pieces) + 1))

    def text(self) -> str:
        return render_tagged(self.pieces)

    def piece(self, tag: str) -> str:
        return self.pieces[self.tags.index(tag)]


def is_code_task(task_type: str) -> bool:
    return task_type.strip().lower() in CODE_TASK_TYPES


def is_math_task(task_type: str) -> bool:
    return task_type.strip().lower() in MATH_TASK_TYPES


def tag_response(response: str, task_type: str = "") -> TaggedResponse:
    """Split a response into sentences (lines for code) so each can carry a tag."""
    if is_code_task(task_type):
        return TaggedResponse(tuple(line for line in response.splitlines() if line.strip()))
    pieces: list[str] = []
    for line in response.splitlines():
        pieces.extend(split_sentences(line))
    return TaggedResponse(tuple(pieces))


def split_sentences(text: str) -> list[str]:
    """Split one line of prose into sentences, keeping numbers and abbreviations whole."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()].strip()
        if not candidate or _ABBREVIATION.search(candidate):
            continue
        sentences.append(candidate)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def render_tagged(pieces: tuple[str, ...] | list[str]) -> str:
    """One piece per line, each followed by its tag: ``sentence [S1]``."""
    return "\n".join(f"{piece} [S{i}]" for i, piece in enumerate(pieces, start=1))
