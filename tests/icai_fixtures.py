"""A scripted annotator world for ICAI orchestration tests.

The bundled orthogonal set's labels follow three known rules (cat over dog, blue t-shirt
over green, lemon ice cream over raspberry). The scripted proposer answers each pair with
the known rule of its topic plus a noise rule; the scripted voter applies a known rule
truthfully where its topic fits (else "none"), sides with the rejected text on two
pairs of three for each noise rule, and answers one noise rule with a value that is not a vote.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import polars as pl

from datagen.llm import ChatRequest
from datagen.testing import ScriptedModel
from datagen_plugins.icai.requests import RULE_KEY

DATA = Path(__file__).parent.parent / "plugins" / "icai" / "catalog" / "data"
ORTHOGONAL = DATA / "synthetic_data_orthogonal_adcbg.csv"

# rule tail -> (word of the preferred text, word of the other)
KNOWN = {
    "features a cat, not a dog": ("cat", "dog"),
    "wears a blue shirt, not green": ("blue", "green"),
    "has lemon ice cream, not raspberry": ("lemon", "raspberry"),
}
NOISE = ("is written in a cheerful tone", "uses shorter sentences", "mentions the weather")
UNSURE = "sounds more formal"  # the voter never gives a valid vote on this one


def prefix(tail: str) -> str:
    return f"Select the response that {tail}."


def orthogonal_frame(limit: int | None = None) -> pl.DataFrame:
    frame = pl.read_csv(ORTHOGONAL)
    return frame if limit is None else frame.head(limit)


def _responses(prompt: str) -> tuple[str, str]:
    """The two responses as shown in a vote or judge prompt."""
    first, rest = prompt.split("Response A:\n", 1)[1].split("\n\nResponse B:\n", 1)
    return first, re.split(r"\n\n(?=For each numbered rule|Follow these rules|Which response)",
                           rest, maxsplit=1)[0]


def _has(text: str, word: str) -> bool:
    """Whether the text's output part (after "Output:") mentions ``word``."""
    output = text.split("Output:", 1)[-1]
    return re.search(rf"\b{word}", output.lower()) is not None


def known_pick(tail: str, first: str, second: str) -> str | None:
    """"A"/"B" where a known rule applies to the shown pair, else None."""
    good, bad = KNOWN[tail]
    if _has(first, good) and _has(second, bad) and not _has(first, bad):
        return "A"
    if _has(second, good) and _has(first, bad) and not _has(second, bad):
        return "B"
    return None


def _topic_rule(preferred: str) -> str:
    return next((t for t, (good, _) in KNOWN.items() if _has(preferred, good)), NOISE[0])


def _hash(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:8], 16)


def propose_script(request: ChatRequest) -> Any:
    prompt = request.messages[-1].content
    preferred, _ = _responses(prompt)
    noise = [*NOISE, UNSURE][_hash(preferred) % 4]
    return {"rules": [{RULE_KEY: _topic_rule(preferred)}, {RULE_KEY: noise}]}


def vote_script(request: ChatRequest, preferred_texts: set[str]) -> Any:
    prompt = request.messages[-1].content
    first, second = _responses(prompt)
    rules = re.findall(r"^(\d+)\. Select the response that (.*)\.$", prompt, re.M)
    answers: dict[str, Any] = {}
    for number, tail in rules:
        if tail in KNOWN:
            answers[number] = known_pick(tail, first, second) or "none"
        elif tail == UNSURE:
            answers[number] = "maybe"
        else:  # the annotator did not follow it: the other text on two pairs of three
            toward_preferred = _hash(first + second, tail) % 3 == 0
            preferred_first = first in preferred_texts
            answers[number] = "A" if toward_preferred == preferred_first else "B"
    return answers


def judge_script(request: ChatRequest) -> Any:
    prompt = request.messages[-1].content
    first, second = _responses(prompt)
    listed = re.findall(r"^- Select the response that (.*)\.$", prompt, re.M)
    for tail in listed:
        if tail in KNOWN and (pick := known_pick(tail, first, second)):
            return {"preferred": pick}
    return {"preferred": "A"}  # no rule applies: always the first shown


def world(frame: pl.DataFrame) -> ScriptedModel:
    """One scripted model playing proposer, voter, embedder and judge over ``frame``."""
    preferred_texts = {row[row["preferred_text"]] for row in frame.to_dicts()}

    def script(request: ChatRequest) -> Any:
        if request.step == "propose":
            return propose_script(request)
        if request.step == "vote":
            return vote_script(request, preferred_texts)
        if request.step == "judge":
            return judge_script(request)
        raise AssertionError(f"unscripted step {request.step!r}")

    return ScriptedModel(script, spec="scripted", dimensions=64)
