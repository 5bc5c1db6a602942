"""``datagen eval constitution``: how much agreement a constitution buys a judge."""

from __future__ import annotations

import shlex
import sys

import click

from datagen.commands.build import parse_assignments


@click.command("constitution")
@click.argument("constitution", metavar="NAME[@V]")
@click.option("--pairs", default=None, metavar="PREFS[@V]",
              help="Labeled pairs: a file, a dataset version or hf:ORG/NAME"
                   " (default: the pairs the constitution was built from).")
@click.option("--judge", default="embedded", show_default=True, metavar="SPEC",
              help="The model that picks a text, with the rules and without.")
@click.option("--split", default=None, help="Only pairs whose 'split' column has this value.")
@click.option("-o", "--option", "option_values", multiple=True, metavar="KEY=VALUE",
              help="Column mapping and judge options of icai-annotate (e.g. preferred_column).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def eval_constitution(constitution: str, pairs: str | None, judge: str, split: str | None,
                      option_values: tuple[str, ...], quiet: bool) -> None:
    """Agreement with the labels of a judge following CONSTITUTION vs the same judge with
    no rules, on the pairs the rules came from (train) and on the others (held out)."""
    from .evaluation import GROUPS, evaluate_constitution

    report = evaluate_constitution(
        constitution, pairs=pairs, judge=judge, split=split,
        options=parse_assignments(option_values), quiet=quiet,
        command=shlex.join(["datagen", *sys.argv[1:]]))
    click.echo(f"{report.constitution}@{report.version}: {len(report.rules)} rules, judge {judge}")
    click.echo(f"{'pairs':<9} {'n':>4} {'no rules':>9} {'rules':>7}")
    for group in GROUPS:
        m = report.metrics
        click.echo(f"{group:<9} {m[f'pairs_{group}_rules']:>4}"
                   f" {_pct(m[f'agreement_{group}_no_rules']):>9}"
                   f" {_pct(m[f'agreement_{group}_rules']):>7}")
    click.echo(f"Recorded as metric {report.metric_id}: datagen sql \"SELECT * FROM metrics"
               f" WHERE metric_id = '{report.metric_id}'\"")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
