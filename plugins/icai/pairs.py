"""Reading pairwise preferences from any table: column mapping, labels, ties.

A pair is (prompt?, text A, text B, which one is preferred). Rows whose label is a tie (or
empty) are kept in the ``pairs`` step table marked ``used = false`` with the reason, so
they are counted, never silently dropped. A label that names neither text stops the build.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from datagen.errors import InvalidInput
from datagen.generator import stable_id

from .options import PairColumns

TRL_COLUMNS = ("chosen", "rejected")
PAIR_COLUMNS = (("text_a", "text_b"), ("response_a", "response_b"))
PREFERRED_COLUMNS = ("preferred_text", "preferred", "label", "winner")
EMPTY_TEXT = "an empty text"


@dataclass(frozen=True)
class Mapping:
    """Which input column holds what. Without a ``preferred`` column, TRL pairs prefer
    text A (``chosen``) and other pairs are unlabeled."""

    text_a: str
    text_b: str
    prompt: str | None
    preferred: str | None
    a_preferred: bool = False


@dataclass(frozen=True)
class Pair:
    id: str
    prompt: str
    text_a: str
    text_b: str
    preferred: str | None  # "a", "b", or None (unlabeled or a tie)
    skip_reason: str = ""

    @property
    def used(self) -> bool:
        return not self.skip_reason

    def record(self, seed: int) -> dict[str, Any]:
        return {"id": self.id, "input_id": self.id, "prompt": self.prompt,
                "text_a": self.text_a, "text_b": self.text_b, "preferred": self.preferred,
                "used": self.used, "skip_reason": self.skip_reason,
                "shown_order": shown_order(seed, self.id)}


def shown_order(seed: int, pair_id: str) -> str:
    """"ab" or "ba": the seeded order in which a judge sees the pair's two texts."""
    return "ba" if random.Random(f"{seed}:{pair_id}").random() < 0.5 else "ab"


def resolve_columns(names: list[str], options: PairColumns, *, need_label: bool,
                    where: str) -> Mapping:
    """The column mapping from the options, or from the usual names where they leave a gap."""
    text_a, text_b = _text_columns(names, options, where)
    trl = (text_a, text_b) == TRL_COLUMNS
    preferred = options.preferred_column
    if preferred is None and not trl:
        preferred = next((c for c in PREFERRED_COLUMNS if c in names), None)
        if preferred is None and need_label:
            raise InvalidInput(
                f"no preferred column: the input has {', '.join(names)}; name the column"
                " saying which text is preferred with -o preferred_column=COL", path=where)
    prompt = options.prompt_column or ("prompt" if "prompt" in names else None)
    for column in (text_a, text_b, prompt, preferred):
        if column is not None and column not in names:
            raise InvalidInput(f"no column {column!r}; the input has {', '.join(names)}",
                               path=where)
    return Mapping(text_a, text_b, prompt, preferred, a_preferred=trl and preferred is None)


def _text_columns(names: list[str], options: PairColumns, where: str) -> tuple[str, str]:
    if options.text_a_column and options.text_b_column:
        return options.text_a_column, options.text_b_column
    for pair in (TRL_COLUMNS, *PAIR_COLUMNS):
        if all(c in names for c in pair):
            return options.text_a_column or pair[0], options.text_b_column or pair[1]
    raise InvalidInput(
        f"no pair of texts: the input has {', '.join(names)}; name them with"
        " -o text_a_column=COL -o text_b_column=COL (prompt/chosen/rejected needs no mapping)",
        path=where)


def read_pairs(rows: list[dict[str, Any]], mapping: Mapping, options: PairColumns,
               where: str) -> list[Pair]:
    """Every input row as a pair; ties and unlabeled rows marked, bad labels refused."""
    return [_pair(row, line, mapping, options, where) for line, row in enumerate(rows, 1)]


def _pair(row: dict[str, Any], line: int, mapping: Mapping, options: PairColumns,
          where: str) -> Pair:
    text_a, text_b = as_text(row.get(mapping.text_a)), as_text(row.get(mapping.text_b))
    prompt = as_text(row.get(mapping.prompt)) if mapping.prompt else ""
    pair_id = str(row[options.id_column]) if options.id_column else stable_id(
        prompt, text_a, text_b)
    if not text_a.strip() or not text_b.strip():
        return Pair(pair_id, prompt, text_a, text_b, None, EMPTY_TEXT)
    if mapping.a_preferred:
        return Pair(pair_id, prompt, text_a, text_b, _flip("a", options))
    if mapping.preferred is None:
        return Pair(pair_id, prompt, text_a, text_b, None, "no label")
    value = row.get(mapping.preferred)
    if value is None or not str(value).strip():
        return Pair(pair_id, prompt, text_a, text_b, None, "no label")
    preferred = _label(value, mapping, options, where, line)
    skip = "" if preferred else "tie"
    return Pair(pair_id, prompt, text_a, text_b, _flip(preferred, options), skip)


def _label(value: Any, mapping: Mapping, options: PairColumns, where: str,
           line: int) -> str | None:
    label = str(value).strip().lower()
    if label in {mapping.text_a.lower(), *(v.lower() for v in options.a_labels)}:
        return "a"
    if label in {mapping.text_b.lower(), *(v.lower() for v in options.b_labels)}:
        return "b"
    if label in {v.lower() for v in options.tie_labels}:
        return None
    raise InvalidInput(
        f"row {line}: {mapping.preferred} = {value!r} names neither text; expected"
        f" {mapping.text_a!r} or {mapping.text_b!r} (or a, b, or a tie label)", path=where)


def _flip(preferred: str | None, options: PairColumns) -> str | None:
    if preferred is None or not options.flip_labels:
        return preferred
    return "b" if preferred == "a" else "a"


def as_text(value: Any) -> str:
    """A cell as text; a conversation (list of role/content messages) as role-tagged lines."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n\n".join(_message(m) for m in value)
    return str(value)


def _message(message: Any) -> str:
    if isinstance(message, dict) and "content" in message:
        return f"{message.get('role', 'message')}: {message['content']}"
    return str(message)
