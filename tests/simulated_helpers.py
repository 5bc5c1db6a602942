"""Running the simulated generators' stages in-process over scripted models."""

from __future__ import annotations

from typing import Any

import polars as pl

from datagen.generator import BatchOutput, Generator
from datagen.testing import ScriptedModel, scripted_context


def run_all_stages(generator: Generator, rows: list[dict[str, Any]],
                   models: Any) -> BatchOutput:
    """Every stage in order, each over the input or the earlier step table it names."""
    ctx = scripted_context(generator, models)
    total = BatchOutput()
    for stage in generator.stages():
        if stage.over == "input":
            frame = pl.DataFrame(rows)
        else:
            frame = pl.DataFrame(total.steps.get(stage.over, []))
        total.extend(stage.run(frame, ctx))
    return total


def always(answer: Any) -> ScriptedModel:
    return ScriptedModel(lambda request: answer)
