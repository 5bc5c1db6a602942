"""The proposer of each round: where its folder is, how it is served, trained and recorded.

A trained proposer lives in a folder under ``$DATAGEN_HOME/reversegen/proposers/KEY`` where
KEY is a digest of everything that decides the training (parent folder, pairs, options).
A marker file written last says the training finished: a rerun of a killed build finds it
and reuses the folder, so nothing is trained twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.errors import UsageError
from datagen.generator import stable_id
from datagen.home import datagen_home
from datagen.llm import Model

MARKER = "reversegen-complete.json"


@dataclass(frozen=True)
class Proposer:
    """A round's proposer: the model spec that serves it and its folder (for training)."""

    spec: str
    folder: str | None
    model: Any = None


def folder_of(spec: str, fallback: str | None) -> str | None:
    """The model folder behind a ``vllm:DIR`` spec, else the ``proposer_folder`` option."""
    kind, _, target = spec.partition("?")[0].partition(":")
    if kind == "vllm" and target and Path(target).expanduser().is_dir():
        return str(Path(target).expanduser().resolve())
    return str(Path(fallback).expanduser().resolve()) if fallback else None


def require_folder(proposer: Proposer) -> str:
    if proposer.folder is None:
        raise UsageError(
            f"the proposer {proposer.spec!r} has no model folder to train: serve it as"
            " -m proposer=vllm:DIR or give -o proposer_folder=DIR"
            " (datagen models prepare smollm2 --output DIR makes one)"
        )
    return proposer.folder


def proposer_key(method: str, parent: str, rows: Sequence[Sequence[str]],
                 settings: dict[str, Any]) -> str:
    """A digest of what decides a training run: the same inputs give the same folder."""
    return stable_id(method, parent, sorted(tuple(r) for r in rows), settings)


def proposer_dir(key: str, home: Path | None = None) -> Path:
    return (home or datagen_home()) / "reversegen" / "proposers" / key


def finished(folder: Path) -> dict[str, Any] | None:
    """The marker of a finished training (its metrics), or None."""
    marker = folder / MARKER
    return json.loads(marker.read_text()) if marker.exists() else None


def mark_finished(folder: Path, info: dict[str, Any]) -> None:
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(info, sort_keys=True))
    tmp.replace(folder / MARKER)


@contextmanager
def open_model(spec: str, home: Path | None = None) -> Iterator[Model]:
    """A model served from ``spec`` for one stage (its calls go through the shared cache)."""
    from datagen.engine import Engine

    with Engine([spec], home=home or datagen_home()) as engine:
        yield engine.models[0]


def run_training(method: str, rows: Any, parent: str, output: Path,
                 options: dict[str, Any]) -> dict[str, float]:
    """``method`` (dpo, sft) of ``parent`` on an Arrow table, into ``output``; its metrics."""
    from datagen.training import train

    result = train(method, data=rows, model=parent, output=output, options=options,
                   record=False, progress=lambda _line: None)
    return dict(result.metrics)


def record_model(method: str, folder: Path, parent: str, round_no: int,
                 metrics: dict[str, Any], options: dict[str, Any],
                 lineage: dict[str, Any], home: Path | None = None) -> None:
    """One row in the catalog's ``models`` table with the proposer's lineage."""
    from datagen.catalog import Catalog

    with Catalog.open(home or datagen_home()) as cat:
        cat.append_record("models", {
            "model_id": uuid.uuid4().hex, "path": str(folder), "base_model": parent,
            "dataset": lineage.get("dataset", ""), "version": lineage.get("version"),
            "method": method, "trainer": "reversegen",
            "options": {**options, "round": round_no, "parent": parent, **lineage},
            "metrics": metrics,
        })
