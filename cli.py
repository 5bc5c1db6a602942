"""The ``datagen`` command line: a thin layer over the Python API.

Commands live in ``datagen/commands/`` and in plugins (``datagen_register_commands``).
This module only assembles them and turns ``DatagenError`` into a one-line message and an
exit code; ``--debug`` (or ``DATAGEN_DEBUG=1``) shows tracebacks instead.

Installed, this file is ``datagen.cli``; in a checkout ``python cli.py`` runs it too.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from datagen import __version__
from datagen.errors import DatagenError


def _debug_enabled() -> bool:
    return os.environ.get("DATAGEN_DEBUG", "") not in ("", "0")


class DatagenGroup(click.Group):
    """A group that reports datagen errors in one line and loads plugin commands lazily."""

    _plugins_loaded = False

    def _load_commands(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from datagen.commands import builtin_commands
        from datagen.plugins import register_commands

        for command in builtin_commands():
            self.add_command(command)
        register_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load_commands()
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatagenError as exc:
            if _debug_enabled():
                raise
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; nothing was changed (a build writes no version, an export "
                  "no file)", 130)
        except Exception as exc:
            message = expected_failure(exc)
            if message is None or _debug_enabled():
                raise
            _fail(message, 1)


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {one_line(message)}", err=True)
    sys.exit(code)


def one_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def expected_failure(exc: BaseException) -> str | None:
    """The one-line message for failures of the system or the engine, None for bugs.

    Disks fill up, folders are read-only, memory runs out and the storage engine reports
    its own errors: those are reported with their cause. Anything else is a bug and keeps
    its traceback.
    """
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    if isinstance(exc, MemoryError):
        return "out of memory (the input may be too large for this machine)"
    if isinstance(exc, RecursionError):
        return "input nested too deeply to process"
    if isinstance(exc, UnicodeError):
        return f"text encoding problem: {exc}"
    module = type(exc).__module__ or ""
    if module.split(".")[0] in ("duckdb", "_duckdb"):
        return f"storage engine: {exc}"
    if module.split(".")[0] == "pyarrow" and isinstance(exc, (ValueError, OSError)):
        return f"data conversion: {exc}"
    return None


@click.group(cls=DatagenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datagen")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """Generate, version, query, publish and train on LLM feedback data.

    Data lives in the catalog at $DATAGEN_HOME (default ~/.local/share/datagen).
    Start with: datagen build critique-sft --limit 3
    """
    if debug:
        os.environ["DATAGEN_DEBUG"] = "1"


def main() -> None:
    cli(prog_name="datagen")


if __name__ == "__main__":
    main()
