"""``datagen serve`` and ``datagen curate``: parse, call the plugin's API, print."""

from __future__ import annotations

import getpass
import shlex

import click

from datagen.errors import UsageError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback requires a token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--token", envvar="DATAGEN_SERVE_TOKEN", metavar="TEXT",
              help="Access token (default: none on 127.0.0.1, a random one elsewhere).")
@click.option("--reviewer", metavar="NAME", help="Reviewer name filled in on review pages.")
def serve(host: str, port: int, token: str | None, reviewer: str | None) -> None:
    """Browse, query and review the catalog in a local web app."""
    from datagen.catalog import Catalog
    from datagen_plugins.serve.app import App, make_server

    with Catalog.open() as catalog:
        app = App(catalog, host=host, port=port, token=token,
                  reviewer=reviewer or _user_name())
        server = make_server(app)
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{app.port}/"
        click.echo(f"Serving {catalog.home} at {address}"
                   + (f"?token={app.token}" if app.token else "") + "  (Ctrl+C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("Stopped.")
        finally:
            server.server_close()


def _command_line(ref: str, ctx: click.Context) -> str:
    """The command as given (options that were set), for the build's lineage."""
    words = ["datagen", "curate", ref]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        source = ctx.get_parameter_source(param.name)
        if not isinstance(param, click.Option) or source != click.core.ParameterSource.COMMANDLINE:
            continue
        for item in (value or ()) if param.multiple else [value]:
            words += [param.opts[-1]] if param.is_flag else [param.opts[-1], str(item)]
    return shlex.join(words)


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return ""


@click.command()
@click.argument("ref", metavar="NAME[@V]")
@click.option("--where", "predicate", metavar="SQL", help="Keep rows where this SQL is true.")
@click.option("--dedupe", type=click.Choice(["exact", "near"]),
              help="Drop duplicates: exact values, or near (MinHash on --column).")
@click.option("--column", metavar="NAME", help="Column to deduplicate on (default: all).")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=0.8,
              show_default=True, help="Similarity at which --dedupe near drops a row.")
@click.option("--sample", type=click.IntRange(1), metavar="N", help="Keep N rows at random.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for --sample and --split.")
@click.option("--split", "splits", multiple=True, metavar="NAME=FRACTION",
              help="Add a 'split' column: e.g. --split test=0.1 (the rest is 'train').")
@click.option("--apply-review", is_flag=True,
              help="Drop rejected rows and apply edits from the version's reviews.")
@click.option("--into", metavar="NAME", help="Write into this dataset (default: the same).")
def curate(ref: str, predicate: str | None, dedupe: str | None, column: str | None,
           threshold: float, sample: int | None, seed: int, splits: tuple[str, ...],
           apply_review: bool, into: str | None) -> None:
    """Make a new version of NAME[@V] by one curation step, with lineage."""
    from datagen.catalog import Catalog, check_name
    from datagen_plugins.serve import curate as ops

    chosen = [name for name, given in (("--where", predicate is not None),
              ("--dedupe", dedupe), ("--sample", sample), ("--split", splits),
              ("--apply-review", apply_review)) if given]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --where, --dedupe, --sample, --split, "
                         f"--apply-review (got {', '.join(chosen) or 'none'})")
    target = check_name(into) if into else None
    command = _command_line(ref, click.get_current_context())
    with Catalog.open() as catalog:
        kw = {"into": target, "command": command}
        if predicate is not None:
            result = ops.where(catalog, ref, predicate, **kw)
        elif dedupe:
            result = ops.dedupe(catalog, ref, dedupe, column=column, threshold=threshold, **kw)
        elif sample:
            result = ops.sample(catalog, ref, sample, seed=seed, **kw)
        elif splits:
            result = ops.split(catalog, ref, ops.parse_split(splits), seed=seed, **kw)
        else:
            result = ops.apply_review(catalog, ref, **kw)
    click.echo(f"Wrote {result.ref}: {result.rows_out} of {result.rows_in} rows "
               f"({result.operation} of {result.parent}).")
