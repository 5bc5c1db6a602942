"""``datagen eval critique``: run a critic over a labelled set and record how well it finds errors.

The critic's answers are a build of the ``critique-eval`` recipe over the labelled dataset (so
they are cached, versioned and queryable like any step), and the figures of
``critic_metrics`` go to the catalog's ``metrics`` table, linked to the model and to the
dataset version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.errors import InvalidInput

from .critic_metrics import summarize

EVAL_RECIPE = "critique-eval"
LABEL_COLUMNS = ("id", "query", "response", "errors", "error_tags")


@dataclass
class CriticReport:
    dataset: str
    version: int
    eval_ref: str
    items: int
    failures: int
    metrics: dict[str, dict[str, Any]]
    metric_id: str


def evaluate_critic(
    dataset: str,
    *,
    model: str,
    threshold: float = 7,
    limit: int | None = None,
    options: dict[str, Any] | None = None,
    resamples: int = 1000,
    home: Path | None = None,
    quiet: bool = True,
    command: str = "",
) -> CriticReport:
    from datagen.build import run_build
    from datagen.catalog import Catalog
    from datagen.home import datagen_home

    home = home or datagen_home()
    with Catalog.open(home) as cat:
        info = cat.resolve(dataset)
        ref = f"{info.dataset}@{info.version}"
        _check_labels(cat.read_arrow(ref).column_names, ref)
    built = run_build(EVAL_RECIPE, input=ref, models=[f"critic={model}"], options=options,
                      limit=limit, home=home, quiet=quiet, command=command, allow_empty=True)
    eval_ref = f"{built.dataset}@{built.version}"
    with Catalog.open(home) as cat:
        items = cat.read_arrow(eval_ref).to_pylist()
        metrics = summarize(items, threshold, resamples) if items else {}
        report = CriticReport(info.dataset, info.version, eval_ref, len(items), built.failures,
                              metrics, uuid.uuid4().hex)
        cat.append_record("metrics", _record(report, model, threshold, limit, options,
                                             built.build_id, items, command))
    return report


def _check_labels(columns: list[str], ref: str) -> None:
    missing = [c for c in LABEL_COLUMNS if c not in columns]
    if missing:
        raise InvalidInput(
            f"{ref} is not a labelled critique set: it lacks {', '.join(missing)}"
            " (build one with `datagen build critique-heldout`)",
            path=ref,
        )


def _record(
    report: CriticReport, model: str, threshold: float, limit: int | None,
    options: dict[str, Any] | None, build_id: str, items: list[dict[str, Any]], command: str,
) -> dict[str, Any]:
    return {
        "metric_id": report.metric_id,
        "kind": "critique",
        "dataset": report.dataset,
        "version": report.version,
        "model": model,
        "judge": None,
        "inputs": {"threshold": threshold, "limit": limit, "options": options or {},
                   "eval": report.eval_ref, "build_id": build_id},
        "metrics": report.metrics,
        "detail": {
            "items": report.items,
            "flawed_items": sum(1 for i in items if i["errors"] > 0),
            "critic_failures": report.failures,
            "mean_cited_tags": (sum(len(i["cited_tags"]) for i in items) / len(items))
            if items else None,
        },
        "command": command,
    }
