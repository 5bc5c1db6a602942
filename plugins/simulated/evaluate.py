"""``datagen eval annotators``: how often the simulated annotators agree with gold labels.

Every annotator labels every gold pair (a build of the ``annotator-agreement`` recipe, so
the labels are a versioned dataset with a ``judgements`` step); the gold labels are then
compared per annotator, for the routed pool (the label a ``simulated-prefs`` build would
keep, before noise), for the pool's majority vote, and between annotators.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.errors import InvalidInput

from .logic import Label, agreement, held_out_agreement, majority, pairwise_agreement, route
from .options import PrefsOptions
from .pairs import read_pairs

RECIPE = "annotator-agreement"
PAPER = {"pool_agreement_with_humans": 0.65, "human_agreement": 0.66}


@dataclass
class AgreementReport:
    metric_id: str
    dataset: str  # the labels' dataset version, NAME@V
    per_annotator: dict[str, dict[str, Any]]  # name -> agreement, labelled, model
    metrics: dict[str, Any]


def gold_labels(rows: list[dict[str, Any]], options: PrefsOptions,
                label_column: str) -> dict[str, Label]:
    """Pair id -> gold label (1 or 2); a row with another label is a one-line error."""
    if rows and label_column not in rows[0]:
        raise InvalidInput(f"the gold pairs have no column {label_column!r} (columns:"
                           f" {', '.join(sorted(rows[0]))}); name it with --label-column")
    pairs, _ = read_pairs(rows, options.columns)
    usable = {p.pair_id for p in pairs}
    labels: dict[str, Label] = {}
    for row in rows:
        pair_id = _row_pair_id(row, options)
        if pair_id in usable:
            labels[pair_id] = _label(row.get(label_column), pair_id, label_column)
    return labels


def _row_pair_id(row: dict[str, Any], options: PrefsOptions) -> str:
    pairs, failures = read_pairs([row], options.columns)
    return pairs[0].pair_id if pairs else failures[0].input_id


def _label(value: Any, pair_id: str, column: str) -> Label:
    text = str(value).strip().lower()
    aliases = {"1": 1, "2": 2, "output_1": 1, "output_2": 2, "text_a": 1, "text_b": 2}
    if text not in aliases:
        raise InvalidInput(f"pair {pair_id!r}: {column} is {value!r}; expected 1 or 2")
    return aliases[text]


def agreement_metrics(labels: dict[str, dict[str, Label]], gold: dict[str, Label],
                      seed: int, order: list[str]) -> dict[str, Any]:
    """Per-annotator, routed-pool, majority and inter-annotator agreement."""
    routed = {pid: labels[order[route(pid, seed, len(order))]].get(pid) for pid in gold}
    routed_labels = {pid: label for pid, label in routed.items() if label is not None}
    votes = {pid: majority([v[pid] for v in labels.values() if pid in v]) for pid in gold}
    scores = [s for s in (agreement(v, gold) for v in labels.values()) if s is not None]
    return {
        "pairs": len(gold),
        "annotators": len(order),
        "pool_routed_agreement": agreement(routed_labels, gold),
        "pool_routed_labelled": len(routed_labels),
        "pool_majority_agreement": _with_ties(votes, gold),
        "mean_annotator_agreement": sum(scores) / len(scores) if scores else None,
        "inter_annotator_pairwise": pairwise_agreement(labels),
        "inter_annotator_held_out": held_out_agreement(labels),
        "paper": PAPER,
    }


def _with_ties(votes: dict[str, Label | None], gold: dict[str, Label]) -> float | None:
    """Agreement of majority votes; a tied vote counts half, a pair nobody labelled not at all."""
    credits = [0.5 if vote is None else float(vote == gold[pid])
               for pid, vote in votes.items() if pid in gold]
    return sum(credits) / len(credits) if credits else None


def evaluate_annotators(
    *, pairs: str | None, models: list[str], options: dict[str, Any], limit: int | None,
    label_column: str = "preference", home: Path | None = None, quiet: bool = True,
    command: str = "",
) -> AgreementReport:
    """Build every annotator's labels for PAIRS, compare them with the gold labels, and
    record one ``metrics`` row (kind ``annotators``)."""
    from datagen.build import run_build
    from datagen.catalog import Catalog
    from datagen.home import datagen_home
    from datagen.recipes import get_recipe

    home = home or datagen_home()
    forced = {**options, "routing": "every", "noise_fraction": 0.0}
    parsed = PrefsOptions.model_validate({**get_recipe(RECIPE).options, **forced})
    ref = pairs or get_recipe(RECIPE).default_input() or ""
    gold, lineage = _read_gold(ref, parsed, limit, label_column, home)
    built = run_build(RECIPE, input=pairs, models=models, options=forced, limit=limit,
                      home=home, quiet=quiet, command=command, allow_empty=True)
    dataset = f"{built.dataset}@{built.version}"
    with Catalog.open(home) as cat:
        rows = cat.sql(f'SELECT annotator, annotator_model, input_id, annotator_preference'
                       f' FROM "{dataset}"').to_pylist()
    order = [a.name for a in parsed.annotators]
    labels: dict[str, dict[str, Any]] = {name: {} for name in order}
    labels |= _labels_by_annotator(rows)
    report = AgreementReport(uuid.uuid4().hex, dataset,
                             _per_annotator(labels, gold, rows, order),
                             agreement_metrics(labels, gold, parsed.seed, order))
    report.metrics["failures"] = built.failures
    with Catalog.open(home) as cat:
        cat.append_record("metrics", _record(report, ref, lineage, models, command))
    return report


def _read_gold(ref: str, options: PrefsOptions, limit: int | None, label_column: str,
               home: Path) -> tuple[dict[str, Label], dict[str, Any]]:
    """The gold labels of the pairs input and where they were read from."""
    from datagen.catalog import Catalog
    from datagen.inputs import open_input

    with Catalog.open(home) as cat:
        source = open_input(ref, cat)
        return gold_labels(source.frame(limit).to_dicts(), options, label_column), source.lineage


def _labels_by_annotator(rows: list[dict[str, Any]]) -> dict[str, dict[str, Label]]:
    labels: dict[str, dict[str, Label]] = {}
    for row in rows:
        labels.setdefault(row["annotator"], {})[row["input_id"]] = row["annotator_preference"]
    return labels


def _per_annotator(labels: dict[str, dict[str, Label]], gold: dict[str, Label],
                   rows: list[dict[str, Any]], order: list[str]) -> dict[str, dict[str, Any]]:
    model = {row["annotator"]: row["annotator_model"] for row in rows}
    return {name: {"agreement": agreement(labels[name], gold),
                   "labelled": sum(pid in gold for pid in labels[name]),
                   "model": model.get(name, "")}
            for name in order}


def _record(report: AgreementReport, ref: str, lineage: dict[str, Any], models: list[str],
            command: str) -> dict[str, Any]:
    name, _, version = report.dataset.partition("@")
    spec = " ".join(models) or "embedded"
    return {
        "metric_id": report.metric_id, "kind": "annotators", "dataset": name,
        "version": int(version), "model": spec, "judge": spec,
        "inputs": {"pairs": ref, "lineage": lineage},
        "metrics": report.metrics, "detail": {"per_annotator": report.per_annotator},
        "command": command,
    }
