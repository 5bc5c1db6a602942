"""MultiCritique: critique data from several agents (``critique-sft``, ``critique-pref``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datagen import hookimpl


@hookimpl
def datagen_register_generators(register: Callable[[type[Any]], None]) -> None:
    from .critic_eval import CritiqueEval
    from .generator import MultiCritique, MultiCritiquePref
    from .heldout import CritiqueHeldout

    register(MultiCritique)
    register(MultiCritiquePref)
    register(CritiqueHeldout)
    register(CritiqueEval)


@hookimpl
def datagen_register_commands(cli: Any) -> None:
    from datagen.commands.evaluate import eval_group

    from .commands import critique

    eval_group(cli).add_command(critique)
