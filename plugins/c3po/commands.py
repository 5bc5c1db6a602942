"""``datagen eval feedback``: C3PO's S_in, S_out and S_overall for a model."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

HEADER = f"{'feedback':<18} {'S_in':>7} {'S_out':>7} {'S_overall':>9} {'n_in':>5} {'n_out':>5}"


@click.command("feedback")
@click.option("--dataset", required=True, metavar="NAME[@V]",
              help="A feedback-prefs dataset version; its test split is evaluated.")
@click.option("--model", "model", required=True, metavar="SPEC",
              help="The model evaluated (the adapted one, or the base one with --in-context).")
@click.option("--baseline", metavar="SPEC",
              help="Compare with this model's answers (default: the dataset's baselines).")
@click.option("--judge", required=True, metavar="SPEC", help="The model that rates answers 1-5.")
@click.option("--in-context", is_flag=True,
              help="Put the feedback in the model's system prompt (the paper's comparison row).")
@click.option("--split", default="test", show_default=True,
              help="Which split's rows to evaluate ('' for all).")
@click.option("--max-tokens", type=click.IntRange(8, 8192), default=512, show_default=True,
              help="Answer budget per prompt.")
@click.option("--one-order", is_flag=True,
              help="Judge each pair once (baseline first) instead of in both orders.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def feedback(dataset: str, model: str, baseline: str | None, judge: str, in_context: bool,
             split: str, max_tokens: int, one_order: bool, quiet: bool) -> None:
    """Score how well MODEL applies each feedback in scope and leaves the rest alone."""
    from .evaluation import evaluate_feedback

    report = evaluate_feedback(
        dataset, model=model, judge=judge, baseline=baseline, in_context=in_context,
        split=split, options={"answer_max_tokens": max_tokens, "both_orders": not one_order},
        quiet=quiet,
        command=shlex.join(["datagen", *sys.argv[1:]]),
    )
    click.echo(f"{report.dataset}@{report.version} judged in {report.eval_ref}"
               f" ({report.failures} failure rows)")
    click.echo(HEADER)
    for fid, scores in report.per_feedback.items():
        click.echo(_line(fid[:18], scores))
    click.echo(_line("overall", report.overall))
    click.echo(f"Recorded as metric {report.metric_id}: datagen sql \"SELECT * FROM metrics"
               f" WHERE metric_id = '{report.metric_id}'\"")


def _line(label: str, scores: dict[str, Any]) -> str:
    def cell(key: str, width: int) -> str:
        value = scores.get(key)
        return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"

    return (f"{label:<18} {cell('S_in', 7)} {cell('S_out', 7)} {cell('S_overall', 9)}"
            f" {scores.get('n_in', 0):>5} {scores.get('n_out', 0):>5}")


