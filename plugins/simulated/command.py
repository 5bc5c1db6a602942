"""``datagen eval annotators``: the pool's agreement with gold labels, as a metrics row."""

from __future__ import annotations

import shlex
import sys

import click

from datagen.commands.build import parse_assignments


@click.command("annotators")
@click.option("--pairs", default=None, metavar="GOLD",
              help="Labelled pairs (instruction, output_1, output_2, preference): a file, a"
                   " dataset NAME[@V] or hf:ORG/NAME. Default: the bundled ICAI pairs.")
@click.option("-m", "--model", "models", multiple=True, metavar="[annotators=]SPEC",
              help="The model(s) behind the annotators; repeat annotators=SPEC to mix models"
                   " (annotator i gets model i, cycled).")
@click.option("--label-column", default="preference", show_default=True,
              help="The column holding the gold label (1 or 2).")
@click.option("--limit", type=int, default=None, help="Use only the first N pairs.")
@click.option("-o", "--option", "option_values", multiple=True, metavar="KEY=VALUE",
              help="simulated-prefs options (columns.*, annotators, order, seed...).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def eval_annotators(pairs: str | None, models: tuple[str, ...], label_column: str,
                    limit: int | None, option_values: tuple[str, ...], quiet: bool) -> None:
    """Agreement of each simulated annotator, of the routed pool and of the pool's majority
    with the gold labels of PAIRS, and the annotators' agreement with each other."""
    from .evaluate import evaluate_annotators

    report = evaluate_annotators(
        pairs=pairs, models=list(models), options=parse_assignments(option_values), limit=limit,
        label_column=label_column, quiet=quiet, command=shlex.join(["datagen", *sys.argv[1:]]))
    click.echo(f"labels: {report.dataset} ({report.metrics['pairs']} gold pairs)")
    click.echo(f"{'annotator':<22} {'model':<16} {'n':>4} {'agreement':>9}")
    for name, row in report.per_annotator.items():
        click.echo(f"{name:<22} {row['model'][:16]:<16} {row['labelled']:>4}"
                   f" {_pct(row['agreement']):>9}")
    m = report.metrics
    for label, key in (("pool (routed)", "pool_routed_agreement"),
                       ("pool (majority vote)", "pool_majority_agreement"),
                       ("inter-annotator (held out)", "inter_annotator_held_out"),
                       ("inter-annotator (pairwise)", "inter_annotator_pairwise")):
        click.echo(f"{label:<43} {_pct(m[key]):>9}")
    click.echo("paper: pool vs human majority 65%, human inter-annotator 66%")
    click.echo(f"Recorded as metric {report.metric_id}: datagen sql \"SELECT * FROM metrics"
               f" WHERE metric_id = '{report.metric_id}'\"")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
