"""A labelled set for critics (``critique-heldout``): responses with planted errors.

Each item asks for three things of one kind (arithmetic, unit conversions, dates, simple
facts); the response answers each in its own sentence and closes with one plain sentence.
Zero, one or two of the answer sentences carry a planted error. Every value, right or wrong,
is computed here, so the labels (how many errors, in which tagged sentence, what is wrong)
come from the program, never from a model. Nothing here overlaps the seed set of
``critique-sft``: other operands, other conversions, dates and facts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, ClassVar

import polars as pl

from datagen.errors import InvalidInput
from datagen.generator import BatchOutput, Generator, GeneratorContext, GeneratorOptions

from .tagging import tag_response

KINDS = ("arithmetic", "units", "dates", "facts")
CLOSING = "I hope these answers help."


@dataclass(frozen=True)
class Fact:
    """One asked thing: how the query names it, and its answer sentence right and wrong."""

    question: str
    right: str
    wrong: str
    note: str  # what is wrong in the wrong sentence


class HeldoutOptions(GeneratorOptions):
    """``seed`` picks operands, dates, facts and which sentences carry the errors."""


class CritiqueHeldout(Generator):
    """Items with zero, one or two planted errors in known sentences, labelled by the program."""

    name: ClassVar[str] = "critique-heldout"
    description: ClassVar[str] = (
        "Responses with 0-2 planted errors (arithmetic, unit conversions, dates, simple facts)"
        " in known tagged sentences, labelled by the program, for evaluating critics"
    )
    Options = HeldoutOptions
    output_schema: ClassVar[str] = "critique-heldout"
    input_columns: ClassVar[tuple[str, ...]] = ("id", "kind", "errors")
    batch_size: ClassVar[int] = 64

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        return BatchOutput(rows=[make_item(row, self.options.seed) for row in batch.to_dicts()])


def make_item(plan: dict[str, Any], seed: int) -> dict[str, Any]:
    """One labelled item from a plan row (id, kind, errors)."""
    kind, errors = str(plan["kind"]), int(plan["errors"])
    if kind not in KINDS:
        raise InvalidInput(f"item {plan['id']}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if errors not in (0, 1, 2):
        raise InvalidInput(f"item {plan['id']}: errors must be 0, 1 or 2, got {errors}")
    rng = random.Random(f"{seed}:{plan['id']}")
    facts = MAKERS[kind](rng)
    planted = sorted(rng.sample(range(len(facts)), errors))
    sentences = [f.wrong if i in planted else f.right for i, f in enumerate(facts)]
    response = " ".join([*sentences, CLOSING])
    tagged = tag_response(response)
    if len(tagged.pieces) != len(facts) + 1:  # every answer must be a sentence of its own
        raise AssertionError(f"item {plan['id']} does not split into its sentences")
    return {
        "id": str(plan["id"]),
        "task_type": "qa",
        "kind": kind,
        "query": "Answer each of these:\n" + "\n".join(f"- {f.question}" for f in facts),
        "response": response,
        "tagged_response": tagged.text(),
        "errors": errors,
        "flawed": errors > 0,
        "error_tags": [f"S{i + 1}" for i in planted],
        "error_notes": [facts[i].note for i in planted],
    }


# -- arithmetic --------------------------------------------------------------------------


def arithmetic(rng: random.Random) -> list[Fact]:
    return [_product(rng), _sum(rng), _difference(rng)]


def _product(rng: random.Random) -> Fact:
    a, b = rng.randint(24, 89), rng.randint(24, 89)
    return _computed(f"What is {a} times {b}?", f"{a} times {b} is", a * b, rng)


def _sum(rng: random.Random) -> Fact:
    a, b = rng.randint(120, 899), rng.randint(120, 899)
    return _computed(f"What is {a} plus {b}?", f"{a} plus {b} is", a + b, rng)


def _difference(rng: random.Random) -> Fact:
    a = rng.randint(500, 999)
    b = rng.randint(101, a - 50)
    return _computed(f"What is {a} minus {b}?", f"{a} minus {b} is", a - b, rng)


def _computed(question: str, stem: str, value: int, rng: random.Random) -> Fact:
    wrong = value + rng.choice([-10, -2, -1, 1, 2, 10])
    return Fact(question, f"{stem} {value}.", f"{stem} {wrong}.", f"{stem} {value}, not {wrong}")


# -- unit conversions ----------------------------------------------------------------------

CONVERSIONS = (
    ("kilometres", "metres", 1000),
    ("hours", "minutes", 60),
    ("kilograms", "grams", 1000),
    ("metres", "centimetres", 100),
    ("days", "hours", 24),
    ("litres", "millilitres", 1000),
    ("weeks", "days", 7),
    ("minutes", "seconds", 60),
)


def units(rng: random.Random) -> list[Fact]:
    return [_conversion(rng, c) for c in rng.sample(CONVERSIONS, 3)]


def _conversion(rng: random.Random, conversion: tuple[str, str, int]) -> Fact:
    source, target, factor = conversion
    amount = rng.randint(3, 19)
    value = amount * factor
    wrong_factor = {1000: 100, 100: 10, 60: 100, 24: 12, 7: 5}[factor]
    wrong = amount * wrong_factor
    stem = f"{amount} {source} is"
    return Fact(
        f"How many {target} are in {amount} {source}?",
        f"{stem} {value} {target}.",
        f"{stem} {wrong} {target}.",
        f"{amount} {source} is {value} {target}, not {wrong}",
    )


# -- dates ---------------------------------------------------------------------------------


def dates(rng: random.Random) -> list[Fact]:
    return [_weekday(rng), _days_between(rng), _days_after(rng)]


def _day(rng: random.Random) -> date:
    return date(2031, 1, 1) + timedelta(days=rng.randint(0, 3000))


def _spoken(day: date) -> str:
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def _weekday(rng: random.Random) -> Fact:
    day = _day(rng)
    right = day.strftime("%A")
    wrong = (day + timedelta(days=rng.choice([1, 2, 3]))).strftime("%A")
    return Fact(
        f"Which day of the week is {_spoken(day)}?",
        f"{_spoken(day)} is a {right}.",
        f"{_spoken(day)} is a {wrong}.",
        f"{_spoken(day)} is a {right}, not a {wrong}",
    )


def _days_between(rng: random.Random) -> Fact:
    start = _day(rng)
    end = start + timedelta(days=rng.randint(20, 90))
    count = (end - start).days
    wrong = count + rng.choice([-2, -1, 1, 2])
    stem = f"From {_spoken(start)} to {_spoken(end)} there are"
    return Fact(
        f"How many days are there from {_spoken(start)} to {_spoken(end)}?",
        f"{stem} {count} days.",
        f"{stem} {wrong} days.",
        f"there are {count} days between them, not {wrong}",
    )


def _days_after(rng: random.Random) -> Fact:
    start, days = _day(rng), rng.randint(11, 40)
    right = start + timedelta(days=days)
    wrong = right + timedelta(days=rng.choice([-1, 1]))
    stem = f"{days} days after {_spoken(start)} it is"
    return Fact(
        f"What date is {days} days after {_spoken(start)}?",
        f"{stem} {_spoken(right)}.",
        f"{stem} {_spoken(wrong)}.",
        f"{days} days after {_spoken(start)} is {_spoken(right)}, not {_spoken(wrong)}",
    )


# -- simple facts --------------------------------------------------------------------------

CAPITALS = (
    ("Canada", "Ottawa"), ("Brazil", "Brasilia"), ("Japan", "Tokyo"), ("Kenya", "Nairobi"),
    ("Norway", "Oslo"), ("Peru", "Lima"), ("Egypt", "Cairo"), ("Spain", "Madrid"),
    ("Poland", "Warsaw"), ("Chile", "Santiago"), ("Greece", "Athens"), ("Ireland", "Dublin"),
)
SYMBOLS = (
    ("gold", "Au"), ("silver", "Ag"), ("iron", "Fe"), ("sodium", "Na"), ("zinc", "Zn"),
    ("lead", "Pb"), ("copper", "Cu"), ("tin", "Sn"), ("mercury", "Hg"), ("helium", "He"),
)
SIDES = (
    ("triangle", 3), ("square", 4), ("pentagon", 5), ("hexagon", 6), ("heptagon", 7),
    ("octagon", 8), ("decagon", 10),
)


def facts(rng: random.Random) -> list[Fact]:
    (country, capital), (_, other_capital) = rng.sample(CAPITALS, 2)
    (element, symbol), (_, other_symbol) = rng.sample(SYMBOLS, 2)
    (shape, sides), (_, other_sides) = rng.sample(SIDES, 2)
    article = "An" if shape[0] in "aeiou" else "A"
    return [
        Fact(
            f"What is the capital of {country}?",
            f"The capital of {country} is {capital}.",
            f"The capital of {country} is {other_capital}.",
            f"the capital of {country} is {capital}, not {other_capital}",
        ),
        Fact(
            f"What is the chemical symbol of {element}?",
            f"The chemical symbol of {element} is {symbol}.",
            f"The chemical symbol of {element} is {other_symbol}.",
            f"the symbol of {element} is {symbol}, not {other_symbol}",
        ),
        Fact(
            f"How many sides does {article.lower()} {shape} have?",
            f"{article} {shape} has {sides} sides.",
            f"{article} {shape} has {other_sides} sides.",
            f"a {shape} has {sides} sides, not {other_sides}",
        ),
    ]


MAKERS: dict[str, Callable[[random.Random], list[Fact]]] = {
    "arithmetic": arithmetic,
    "units": units,
    "dates": dates,
    "facts": facts,
}


def plan_rows(per_cell: int = 10) -> list[dict[str, Any]]:
    """The bundled plan: every kind x every error count, ``per_cell`` items each, interleaved
    so that any first N rows (``--limit``) stay balanced across kinds and error counts."""
    return [
        {"id": f"{kind}-{errors}-{n + 1:02d}", "kind": kind, "errors": errors}
        for n in range(per_cell)
        for errors in (0, 1, 2)
        for kind in KINDS
    ]
