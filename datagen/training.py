"""The trainer contract, and the one entry point that trains a model on a dataset version.

A trainer is a training method (``sft``, ``dpo``, ``rm``, ...) registered by a plugin. This
module never imports torch: it defines what a trainer declares (its options, the dataset
formats it accepts, the loss it optimises) and does everything that comes before and after
the heavy part (resolving the dataset version, checking the model and output folders,
writing the model card and the catalog record), so bad input fails in milliseconds.

    from datagen.training import train

    result = train("sft", dataset="critique-sft@2", model="models/smollm2", output="out/sft")

The loss is data, not code: a trainer returns a list of :class:`LossTerm`, each a weighted
objective over the rows of one ``kind``. Plain SFT is ``[LossTerm("nll")]``, plain DPO is
``[LossTerm("dpo", params={"beta": 0.1})]``; C3PO is DPO on in-scope rows plus weighted NLL
on near- and out-of-scope rows, and the ``mixed`` trainer evaluates any such list. A
proposer trained between ReverseGen rounds is plain DPO on an in-memory table
(``train("dpo", data=table, ...)``), with no catalog version needed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from datagen.errors import InvalidInput, InvalidOptions, NotFound, UsageError

if TYPE_CHECKING:
    import pyarrow as pa

ROW_KIND_COLUMN = "kind"
"""The column that splits a dataset's rows between loss terms (C3PO's in/near/out-of-scope)."""
SPLIT_COLUMN = "split"
"""Rows of a dataset with this column are trained on only where it holds ``options.split``."""

MODEL_FILES = ("config.json", "adapter_config.json", "model.safetensors", "pytorch_model.bin")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# ----------------------------------------------------------------------------- options


class TrainerOptions(BaseModel):
    """Hyperparameters every trainer accepts. ``None`` means "the fast default for this machine".

    Defaults are chosen by the trainer plugin at run time because the right batch size,
    precision and attention kernel depend on the device (see the plugin's ``speed`` module).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float | None = Field(None, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, ge=-1, description="stop after this many steps (-1: epochs decide)")
    batch_size: int | None = Field(None, ge=1, description="per-device batch size")
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(1024, ge=8, description="tokens per sequence (prompt + completion)")
    packing: bool | None = None
    attention: str | None = None
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    lora: bool = False
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    lr_scheduler: str = "linear"
    weight_decay: float = Field(0.0, ge=0)
    gradient_checkpointing: bool = False
    compile: bool = False
    logging_steps: int = Field(1, ge=1)
    seed: int = 0
    split: str | None = Field(
        "train", description="train only on rows whose `split` column has this value (when the"
        " dataset has one); null: every row"
    )


class PreferenceOptions(TrainerOptions):
    """Options of trainers that compare a chosen and a rejected completion."""

    beta: float = Field(0.1, gt=0)
    loss_type: str = "sigmoid"


# ----------------------------------------------------------------------------- formats


@dataclass(frozen=True)
class DatasetFormat:
    """A set of columns a trainer can learn from (TRL's dataset formats).

    ``text_columns`` hold either a string (plain format) or a list of ``{role, content}``
    messages (conversational format); all of them must be present and non-null.
    """

    name: str
    text_columns: tuple[str, ...]

    def matches(self, columns: Iterable[str]) -> bool:
        return set(self.text_columns) <= set(columns)


CONVERSATIONAL = DatasetFormat("conversational", ("messages",))
PROMPT_COMPLETION = DatasetFormat("prompt-completion", ("prompt", "completion"))
PREFERENCE = DatasetFormat("preference", ("prompt", "chosen", "rejected"))
IMPLICIT_PREFERENCE = DatasetFormat("implicit preference", ("chosen", "rejected"))

SFT_FORMATS = (CONVERSATIONAL, PROMPT_COMPLETION)
PREFERENCE_FORMATS = (PREFERENCE, IMPLICIT_PREFERENCE)


def _describe(formats: Sequence[DatasetFormat]) -> str:
    return " or ".join("+".join(f.text_columns) for f in formats)


def detect_format(
    table: pa.Table, formats: Sequence[DatasetFormat], dataset: str
) -> DatasetFormat:
    """The first of ``formats`` the table's columns satisfy, with every cell checked.

    Raises ``InvalidInput`` naming the dataset, the missing columns and the accepted
    formats, so a wrong dataset fails before a model is loaded.
    """
    if table.num_rows == 0:
        raise InvalidInput(f"dataset {dataset} has no rows; nothing to train on")
    for fmt in formats:
        if fmt.matches(table.column_names):
            for column in fmt.text_columns:
                _check_text_column(table, column, dataset)
            return fmt
    raise InvalidInput(
        f"dataset {dataset} has columns {', '.join(table.column_names)}; "
        f"this trainer needs {_describe(formats)}"
    )


def _check_text_column(table: pa.Table, column: str, dataset: str) -> None:
    import pyarrow as pa

    values = table.column(column)
    if values.null_count:
        nulls = values.null_count
        raise InvalidInput(f"dataset {dataset}: column {column!r} has {nulls} null values")
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_struct(
        kind.value_type
    ):
        fields = {kind.value_type.field(i).name for i in range(kind.value_type.num_fields)}
        if {"role", "content"} <= fields:
            return
    raise InvalidInput(
        f"dataset {dataset}: column {column!r} is {kind}; "
        "expected text or a list of {role, content} messages"
    )


# ----------------------------------------------------------------------------- loss


@dataclass(frozen=True)
class LossTerm:
    """One weighted objective over the rows of one kind.

    ``objective`` is ``"nll"`` (mean token negative log-likelihood of the completion, or of
    ``chosen`` in a preference row), ``"dpo"`` (direct preference optimisation of chosen
    over rejected against the frozen starting model; ``params["beta"]``) or ``"reward"``
    (Bradley-Terry loss of a scalar reward head). ``rows`` selects rows whose ``kind``
    column equals it; ``None`` takes every row.
    """

    objective: Literal["nll", "dpo", "reward"]
    weight: float = 1.0
    rows: str | None = None
    params: Mapping[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        where = f" on {self.rows!r} rows" if self.rows else ""
        extra = "".join(f", {k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.weight:g} x {self.objective}{where}{extra}"


# ----------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class DatasetSource:
    """Where training rows came from, for the model card and the ``models`` record."""

    ref: str
    name: str = ""
    version: int | None = None
    recipe: str = ""
    recipe_text: str = ""
    generator: str = ""
    build_id: str = ""


@dataclass
class TrainJob:
    """Everything a trainer's ``run`` needs; built and checked by :func:`train`."""

    table: pa.Table
    format: DatasetFormat
    source: DatasetSource
    model: str
    output: Path
    options: TrainerOptions
    loss: list[LossTerm]
    progress: Callable[[str], None] = print


@dataclass
class TrainResult:
    """What a finished run reports; also what the model card and the catalog record say."""

    method: str
    output: Path
    base_model: str
    source: DatasetSource
    options: dict[str, Any]
    metrics: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    seconds: float = 0.0

    def record(self, trainer: str = "") -> dict[str, Any]:
        """The row written to the catalog's ``models`` table (``created_at`` is the catalog's)."""
        return {
            "model_id": uuid.uuid4().hex,
            "path": str(self.output),
            "base_model": self.base_model,
            "dataset": self.source.name,
            "version": self.source.version,
            "method": self.method,
            "trainer": trainer,
            "options": self.options,
            "metrics": self.metrics,
        }


class Trainer:
    """Base class for training methods. Subclasses set the class attributes and ``run``.

    ``run`` does the heavy work (it may import torch); everything else here stays light so
    that listing trainers and validating options never loads the training stack.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[TrainerOptions]] = TrainerOptions
    formats: ClassVar[tuple[DatasetFormat, ...]] = SFT_FORMATS

    def parse_options(self, values: Mapping[str, Any]) -> TrainerOptions:
        try:
            return self.Options(**dict(values))
        except ValidationError as exc:
            raise InvalidOptions(
                f"trainer {self.name!r}: {_first_error(exc)}; "
                f"allowed: {', '.join(sorted(self.Options.model_fields))}"
            ) from None

    def loss(self, options: TrainerOptions) -> list[LossTerm]:
        """The objective this method optimises; see :class:`LossTerm`."""
        return [LossTerm("nll")]

    def data_defaults(self, table: pa.Table) -> dict[str, Any]:
        """Option defaults this dataset calls for (a method's paper setting for its data);
        the user's own options always win."""
        return {}

    def check(self, table: pa.Table, dataset: str) -> DatasetFormat:
        """Raise ``InvalidInput`` unless the table is in a format this trainer reads."""
        return detect_format(table, self.formats, dataset)

    def run(self, job: TrainJob) -> TrainResult:
        raise NotImplementedError


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "options"
    return f"{where}: {error['msg']}"


# ----------------------------------------------------------------------------- train()


def train(
    method: str,
    *,
    model: str | Path,
    output: str | Path,
    dataset: str | None = None,
    data: pa.Table | None = None,
    options: Mapping[str, Any] | None = None,
    home: Path | None = None,
    progress: Callable[[str], None] = print,
    record: bool = True,
) -> TrainResult:
    """Train ``model`` with ``method`` on a dataset version (or an in-memory Arrow table).

    Every check that can fail (method, options, dataset format, model and output folders)
    runs before the trainer loads anything heavy. On success the output folder holds the
    model, its tokenizer and a model card, and the run is recorded in the catalog.
    """
    from datagen.plugins import trainers

    trainer = trainers().get(method)()
    trainer.parse_options(options or {})  # bad options fail before any data is read
    model_ref = check_model(model)
    out = check_output(output)
    table, source = _load(dataset, data, home)
    parsed = trainer.parse_options({**trainer.data_defaults(table), **(options or {})})
    table = _training_split(table, parsed.split, source.ref)
    fmt = trainer.check(table, source.ref)
    loss = trainer.loss(parsed)
    _check_row_kinds(table, loss, source.ref)
    job = TrainJob(table, fmt, source, model_ref, out, parsed, loss, progress)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.perf_counter()
    result = trainer.run(job)
    result.started_at, result.seconds = started, time.perf_counter() - clock
    write_model_card(result, loss)
    if record and dataset is not None:
        _record(result, home)
    return result


def check_model(model: str | Path) -> str:
    """A local model folder (must hold a model) or, if it looks like one, a Hub model id."""
    text = str(model)
    path = Path(text).expanduser()
    if path.is_dir():
        if not any((path / name).exists() for name in MODEL_FILES):
            raise NotFound("model folder (no config.json)", text)
        return str(path.resolve())
    if HUB_ID.match(text) and not text.startswith((".", "~")) and not path.parent.is_dir():
        return text
    raise NotFound("model folder", text)


def check_output(output: str | Path) -> Path:
    path = Path(output).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise UsageError(f"output {path} is a file; give a folder")
    if path.is_dir() and any((path / name).exists() for name in MODEL_FILES):
        raise UsageError(f"output folder {path} already holds a model; choose another --output")
    return path


def _load(
    dataset: str | None, data: pa.Table | None, home: Path | None
) -> tuple[pa.Table, DatasetSource]:
    if (dataset is None) == (data is None):
        raise UsageError("give exactly one of a dataset reference or an in-memory table")
    if data is not None:
        return data, DatasetSource(ref="<in-memory table>")
    from datagen.catalog import Catalog

    assert dataset is not None
    with Catalog.open(home) as cat:
        info = cat.resolve(dataset)
        source = _source(info, dataset)
        return cat.read_arrow(source.ref), source


def _source(info: Any, asked: str) -> DatasetSource:
    """The catalog's version info (and its build's lineage) as a source."""
    name = getattr(info, "dataset", None) or asked.split("@")[0]
    version = getattr(info, "version", None)
    build = getattr(info, "build", None) or {}
    ref = f"{name}@{version}" if version is not None else name
    return DatasetSource(
        ref=ref,
        name=name,
        version=version,
        recipe=str(build.get("recipe") or ""),
        recipe_text=str(build.get("recipe_text") or ""),
        generator=str(build.get("generator") or ""),
        build_id=str(getattr(info, "build_id", "") or build.get("build_id") or ""),
    )


def _training_split(table: pa.Table, split: str | None, dataset: str) -> pa.Table:
    """The rows of ``split`` when the dataset has a ``split`` column; all rows otherwise."""
    if split is None or SPLIT_COLUMN not in table.column_names:
        return table
    import pyarrow.compute as pc

    kept = table.filter(pc.equal(table.column(SPLIT_COLUMN), split))
    if kept.num_rows == 0:
        found = sorted(map(str, set(table.column(SPLIT_COLUMN).to_pylist())))
        raise InvalidInput(
            f"dataset {dataset}: no rows with split = {split!r} (found {', '.join(found)});"
            " choose one with -o split=NAME, or -o split=null for every row"
        )
    return kept


def _check_row_kinds(table: pa.Table, loss: list[LossTerm], dataset: str) -> None:
    wanted = {term.rows for term in loss if term.rows is not None}
    if not wanted:
        return
    if ROW_KIND_COLUMN not in table.column_names:
        raise InvalidInput(f"dataset {dataset} has no {ROW_KIND_COLUMN!r} column to split rows by")
    kinds = table.column(ROW_KIND_COLUMN).to_pylist()
    present = set(kinds)
    if not wanted & present:
        raise InvalidInput(
            f"dataset {dataset}: no rows of kind {', '.join(sorted(wanted))}; "
            f"found {', '.join(sorted(map(str, present)))}"
        )
    unused = sorted(map(str, present - wanted))
    if unused:  # rows no loss term reads would silently drop out of training
        row = next(i for i, kind in enumerate(kinds) if str(kind) == unused[0])
        raise InvalidInput(
            f"dataset {dataset}: row {row} has kind {unused[0]!r}, which no loss term uses"
            f" (terms use {', '.join(sorted(wanted))})"
        )


def _record(result: TrainResult, home: Path | None) -> None:
    from datagen.catalog import Catalog
    from datagen.plugins import trainers

    with Catalog.open(home) as cat:
        cat.append_record("models", result.record(trainers().owners.get(result.method, "")))


# ----------------------------------------------------------------------------- model card


def write_model_card(result: TrainResult, loss: Sequence[LossTerm]) -> Path:
    """A README.md that says what the model was trained on, how, and how it ended."""
    path = result.output / "README.md"
    path.write_text(model_card(result, loss), encoding="utf-8")
    return path


def model_card(result: TrainResult, loss: Sequence[LossTerm]) -> str:
    source = result.source
    lines = [
        "---",
        f"base_model: {result.base_model}",
        "library_name: transformers",
        f"tags: [datagen, {result.method}]",
        "---",
        "",
        f"# {result.output.name}",
        "",
        f"Fine-tuned with `datagen train {result.method}` from `{result.base_model}` on the "
        f"dataset version **{source.ref}**.",
        "",
        "## Training data",
        "",
        f"- dataset: `{source.ref}`",
    ]
    if source.generator:
        lines.append(f"- generator: `{source.generator}`")
    if source.build_id:
        lines.append(f"- build id: `{source.build_id}`")
    if source.recipe:
        lines.append(f"- recipe: `{source.recipe}`")
    if source.recipe_text:
        lines += ["", "```toml", source.recipe_text.strip(), "```"]
    lines += ["", "## Training", "", f"- started: {result.started_at}",
              f"- wall time: {result.seconds:.1f} s",
              f"- loss: {' + '.join(term.describe() for term in loss)}"]
    lines += _table("Hyperparameters", result.options)
    lines += _table("Runtime settings", result.settings)
    lines += _table("Final metrics", result.metrics)
    return "\n".join(lines) + "\n"


def _table(title: str, values: Mapping[str, Any]) -> list[str]:
    if not values:
        return []
    rows = [f"| {key} | {_fmt(value)} |" for key, value in sorted(values.items())]
    return ["", f"## {title}", "", "| name | value |", "|---|---|", *rows]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def trainer_names() -> list[str]:
    from datagen.plugins import trainers

    return sorted(trainers().items)


__all__ = [
    "CONVERSATIONAL",
    "IMPLICIT_PREFERENCE",
    "PREFERENCE",
    "PREFERENCE_FORMATS",
    "PROMPT_COMPLETION",
    "ROW_KIND_COLUMN",
    "SFT_FORMATS",
    "DatasetFormat",
    "DatasetSource",
    "LossTerm",
    "PreferenceOptions",
    "TrainJob",
    "TrainResult",
    "Trainer",
    "TrainerOptions",
    "check_model",
    "check_output",
    "detect_format",
    "model_card",
    "train",
    "trainer_names",
]
