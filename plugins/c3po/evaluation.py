"""``datagen eval feedback`` as a Python API: build judged answers for a feedback-prefs test
split (the ``feedback-eval`` recipe), turn the scores into S_in, S_out and S_overall per
feedback and overall, and record them as a ``metrics`` row of kind ``feedback``."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datagen.errors import InvalidInput, UsageError

from . import logic
from .judging import EVAL_COLUMNS

EVAL_RECIPE = "feedback-eval"


@dataclass
class FeedbackReport:
    dataset: str
    version: int
    eval_ref: str
    overall: dict[str, Any]
    per_feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: int = 0
    metric_id: str = ""


def scores_by_feedback(rows: Iterable[dict[str, Any]]) -> dict[str, logic.FeedbackScore]:
    """Each feedback's S_in and S_out from judged rows (``feedback_id``, ``kind``, ``score``)."""
    grouped: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in rows:
        grouped[row["feedback_id"]].append((row["kind"], float(row["score"])))
    return {fid: logic.feedback_score(judged) for fid, judged in sorted(grouped.items())}


def summarize(rows: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Overall figures (means over feedbacks with both halves judged) and per-feedback ones."""
    scores = scores_by_feedback(rows)
    complete = [s for s in scores.values() if not math.isnan(s.s_in + s.s_out)]
    overall = {**logic.average(complete), "incomplete_feedbacks": len(scores) - len(complete)}
    return _finite(overall), {fid: _finite(s.as_dict()) for fid, s in scores.items()}


def check_dataset(table: Any, ref: str, split: str) -> None:
    """The columns the evaluation reads, known scope kinds, and rows in the split."""
    missing = [c for c in EVAL_COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidInput(f"not a feedback-prefs dataset: no column(s) {', '.join(missing)}",
                           path=ref)
    ids = table.column("prompt_id").to_pylist()
    for prompt_id, kind in zip(ids, table.column("kind").to_pylist(), strict=True):
        logic.check_kind(kind, f"{ref} row {prompt_id}")
    if split and split not in set(table.column("split").to_pylist()):
        raise InvalidInput(f"no rows in split {split!r} to evaluate", path=ref)


def evaluate_feedback(
    dataset: str,
    *,
    model: str,
    judge: str,
    baseline: str | None = None,
    in_context: bool = False,
    split: str = "test",
    options: dict[str, Any] | None = None,
    home: Path | None = None,
    quiet: bool = True,
    command: str = "",
) -> FeedbackReport:
    """Judge ``model`` on the test split of a feedback-prefs version and record the figures.

    Without ``baseline`` the dataset's stored student answers are the baselines; with
    ``in_context`` the model sees the feedback in its system prompt.
    """
    from datagen.build import run_build
    from datagen.catalog import Catalog
    from datagen.home import datagen_home

    home = home or datagen_home()
    name, version = checked_version(home, dataset, split)
    models = [f"model={model}", f"judge={judge}"] + ([f"baseline={baseline}"] if baseline else [])
    eval_options = {**(options or {}), "split": split, "in_context": in_context,
                    "baseline_from_dataset": baseline is None}
    built = run_build(EVAL_RECIPE, input=f"{name}@{version}", models=models,
                      options=eval_options, home=home, quiet=quiet, command=command,
                      allow_empty=True)
    eval_ref = f"{built.dataset}@{built.version}"
    with Catalog.open(home) as cat:
        overall, per_feedback = summarize(cat.read_arrow(eval_ref).to_pylist())
        report = FeedbackReport(name, version, eval_ref, overall, per_feedback,
                                built.failures, uuid.uuid4().hex)
        cat.append_record("metrics", _metrics_record(report, model, judge, baseline, in_context,
                                                     built.build_id, command))
    return report


def checked_version(home: Path, dataset: str, split: str) -> tuple[str, int]:
    """The dataset version to evaluate, after ``check_dataset`` (before any model loads)."""
    from datagen.catalog import Catalog

    with Catalog.open(home) as cat:
        info = cat.resolve(dataset)
        ref = f"{info.dataset}@{info.version}"
        check_dataset(cat.read_arrow(ref), ref, split)
    return info.dataset, info.version


def _metrics_record(report: FeedbackReport, model: str, judge: str, baseline: str | None,
                    in_context: bool, build_id: str, command: str) -> dict[str, Any]:
    return {
        "metric_id": report.metric_id,
        "kind": "feedback",
        "dataset": report.dataset,
        "version": report.version,
        "model": model,
        "judge": judge,
        "inputs": {"baseline": baseline or "dataset baselines (the student's answers)",
                   "in_context": in_context, "eval": report.eval_ref, "build_id": build_id},
        "metrics": report.overall,
        "detail": {"per_feedback": report.per_feedback, "judge_failures": report.failures},
        "command": command,
    }


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """NaN (a scope with nothing judged) as None, so the stored JSON stays standard."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def require_model(value: str | None, flag: str) -> str:
    if not value or not value.strip():
        raise UsageError(f"{flag} needs a model spec, e.g. 'embedded'")
    return value.strip()
