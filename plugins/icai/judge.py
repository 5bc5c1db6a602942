"""Judge: pick the better text of each pair, following a constitution (or no rules).

Used by ``icai-annotate`` to label pairs, and by ``datagen eval constitution`` to measure
how well a constitution lets a judge reconstruct the labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datagen.steps import Ask, StepKit

from .logic import shown_texts, unshuffle
from .options import AnnotateOptions, ConstitutionOptions
from .pairs import Pair, shown_order
from .requests import judge_request


def judge_pairs(kit: StepKit, options: AnnotateOptions | ConstitutionOptions,
                pairs: Sequence[Pair], rules: Sequence[str]) -> list[dict[str, Any]]:
    """One judgment per pair (``pick`` is None where the answer failed: a failure row)."""
    orders = [shown_order(options.seed, p.id) for p in pairs]
    asks = [
        Ask("judge", judge_request(options, p.prompt, shown_texts(p.text_a, p.text_b, order),
                                   rules), p.id)
        for p, order in zip(pairs, orders, strict=True)
    ]
    judgments = []
    for pair, order, answer in zip(pairs, orders, kit.structured(asks), strict=True):
        shown = answer.data["preferred"] if answer is not None else None
        pick = unshuffle(shown, order) if shown else None
        judgments.append({
            "id": pair.id, "input_id": pair.id, "pair_id": pair.id, "shown_order": order,
            "answer": shown, "pick": pick, "label": pair.preferred,
            "agrees": None if pick is None or pair.preferred is None else pick == pair.preferred,
            "model": kit.spec("judge"),
        })
    return judgments
