"""``datagen eval critique``: how well a critic finds planted errors, as a metrics row."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

ROWS = ("f1", "precision", "recall", "localisation", "spearman", "parse_valid")


@click.command("critique")
@click.option("--dataset", required=True, metavar="NAME[@V]",
              help="A labelled set (`datagen build critique-heldout`).")
@click.option("--model", "model", required=True, metavar="SPEC",
              help="The critic: the base model or one trained on critique-sft / critique-pref.")
@click.option("--threshold", type=float, default=7, show_default=True,
              help="A response counts as flagged when its score is below this (of 10).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N items.")
@click.option("--turns", type=click.Choice(["multi_turn", "single_turn"]), default="multi_turn",
              show_default=True, help="Ask as the critique-sft conversation does.")
@click.option("--max-tokens", type=click.IntRange(16, 16384), default=1024, show_default=True,
              help="Budget of each critic answer.")
@click.option("--resamples", type=click.IntRange(10), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% intervals.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def critique(dataset: str, model: str, threshold: float, limit: int | None, turns: str,
             max_tokens: int, resamples: int, quiet: bool) -> None:
    """Score how well MODEL's critiques find planted errors, and record a metrics row."""
    from .evaluation import evaluate_critic

    report = evaluate_critic(
        dataset, model=model, threshold=threshold, limit=limit, resamples=resamples,
        options={"turns": turns, "max_tokens": max_tokens}, quiet=quiet,
        command=shlex.join(["datagen", *sys.argv[1:]]),
    )
    click.echo(f"{report.dataset}@{report.version}: {report.items} critiques in"
               f" {report.eval_ref} ({report.failures} failure rows)")
    click.echo(f"{'metric':<13} {'value':>7} {'95% interval':>17} {'baseline':>9}")
    for name in ROWS:
        click.echo(_line(name, report.metrics.get(name, {})))
    click.echo(f"Recorded as metric {report.metric_id}: datagen sql \"SELECT * FROM metrics"
               f" WHERE metric_id = '{report.metric_id}'\"")


def _line(name: str, figure: dict[str, Any]) -> str:
    def number(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}"

    interval = figure.get("interval")
    span = "-" if not interval else f"[{interval[0]:.3f}, {interval[1]:.3f}]"
    return (f"{name:<13} {number(figure.get('value')):>7} {span:>17}"
            f" {number(figure.get('baseline')):>9}")


