"""C3PO: data and evaluation for adapting a model to high-level verbal feedback
(``feedback-prefs``, ``feedback-eval``, ``datagen eval feedback``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def datagen_register_generators(register: Callable[[type[Any]], None]) -> None:
    from .generator import FeedbackPrefs
    from .judging import FeedbackEval

    register(FeedbackPrefs)
    register(FeedbackEval)


@hookimpl
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    register(Path(__file__).parent / "catalog")


@hookimpl
def datagen_register_commands(cli: click.Group) -> None:
    from datagen.commands.evaluate import eval_group

    from .commands import feedback

    eval_group(cli).add_command(feedback)
