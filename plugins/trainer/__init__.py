"""The bundled trainer plugin: ``sft``, ``dpo``, ``rm`` and ``mixed`` on TRL, plus the
``datagen train`` and ``datagen models`` commands.

Nothing here imports torch at load time; the training stack loads inside ``Trainer.run``
and inside command bodies, so ``datagen --help`` stays fast without the ``train`` extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from datagen import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def datagen_register_trainers(register: Callable[[type[Any]], None]) -> None:
    from datagen_plugins.trainer.methods import (
        DPOTrainer,
        MixedTrainer,
        RewardTrainer,
        SFTTrainer,
    )

    for trainer in (SFTTrainer, DPOTrainer, RewardTrainer, MixedTrainer):
        register(trainer)


@hookimpl
def datagen_register_commands(cli: click.Group) -> None:
    from datagen_plugins.trainer.commands import models, train

    cli.add_command(train)
    cli.add_command(models)
