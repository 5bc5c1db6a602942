"""Reading a build's input into pairs: pair columns, or two responses per prompt.

Every input row ends as a pair or a failure row naming what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from datagen.errors import InvalidInput
from datagen.generator import Failure, stable_id

from .options import PairColumns

RESPONSE_COLUMNS = ("prompt_id", "prompt", "response")


@dataclass
class Pair:
    """One (instruction, output_1, output_2) to label."""

    pair_id: str
    instruction: str
    output_1: str
    output_2: str
    failed: bool = False

    def as_record(self) -> dict[str, str]:
        return {"id": self.pair_id, "input_id": self.pair_id, "instruction": self.instruction,
                "output_1": self.output_1, "output_2": self.output_2}


def read_pairs(
    rows: list[dict[str, Any]], columns: PairColumns
) -> tuple[list[Pair], list[Failure]]:
    """Pairs from rows with pair columns, or from ``responses`` rows (two per prompt)."""
    if not rows:
        return [], []
    present = set(rows[0])
    if {columns.instruction, columns.output_1, columns.output_2} <= present:
        return _split([_pair_from_row(row, columns) for row in rows])
    if set(RESPONSE_COLUMNS) <= present:
        return _split(_pairs_from_responses(rows))
    raise InvalidInput(
        f"input has neither pair columns ({columns.instruction}, {columns.output_1},"
        f" {columns.output_2}) nor responses columns ({', '.join(RESPONSE_COLUMNS)});"
        f" it has: {', '.join(sorted(present))}. Map yours with the option columns.*"
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _pair_from_row(row: dict[str, Any], columns: PairColumns) -> Pair | Failure:
    instruction = _text(row.get(columns.instruction))
    first, second = _text(row.get(columns.output_1)), _text(row.get(columns.output_2))
    pair_id = _text(row.get(columns.id)) or stable_id(instruction, first, second)
    return _checked(Pair(pair_id, instruction, first, second), columns)


def _checked(pair: Pair, columns: PairColumns) -> Pair | Failure:
    for name, value in ((columns.instruction, pair.instruction),
                        (columns.output_1, pair.output_1), (columns.output_2, pair.output_2)):
        if not value:
            return Failure("pairs", f"pair {pair.pair_id!r}: {name} is empty", pair.pair_id)
    return pair


def _pairs_from_responses(rows: list[dict[str, Any]]) -> list[Pair | Failure]:
    """The first two responses (by sample index) of each prompt make its pair."""
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_prompt.setdefault(_text(row.get("prompt_id")), []).append(row)
    made: list[Pair | Failure] = []
    for prompt_id, group in by_prompt.items():
        group.sort(key=lambda r: (r.get("sample_index") or 0, _text(r.get("id"))))
        if len(group) < 2:
            made.append(Failure("pairs", f"prompt {prompt_id!r} has one response; a pair"
                                " needs two (build responses with n=2)", prompt_id))
            continue
        pair = Pair(prompt_id, _text(group[0].get("prompt")), _text(group[0].get("response")),
                    _text(group[1].get("response")))
        made.append(_checked(pair, PairColumns(instruction="prompt", output_1="response 1",
                                               output_2="response 2")))
    return made


def _split(made: Iterable[Pair | Failure]) -> tuple[list[Pair], list[Failure]]:
    pairs: list[Pair] = []
    failures: list[Failure] = []
    for item in made:
        if isinstance(item, Failure):
            failures.append(item)
        else:
            pairs.append(item)
    return pairs, failures
