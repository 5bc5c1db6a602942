"""ReverseGen: a proposer trained round by round to write instructions a target model fails
(``failure-queries``), and those instructions with a teacher's answers (``failure-sft``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from datagen import hookimpl


@hookimpl
def datagen_register_generators(register: Callable[[type[Any]], None]) -> None:
    from .generator import FailureQueries, FailureSFT

    register(FailureQueries)
    register(FailureSFT)


@hookimpl
def datagen_register_catalogs(register: Callable[[Path], None]) -> None:
    register(Path(__file__).parent / "catalog")
