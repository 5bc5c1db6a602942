"""The training methods this plugin registers. Light classes: ``run`` imports the stack."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from datagen.training import (
    PREFERENCE_FORMATS,
    ROW_KIND_COLUMN,
    SFT_FORMATS,
    DatasetFormat,
    LossTerm,
    PreferenceOptions,
    Trainer,
    TrainerOptions,
    TrainJob,
    TrainResult,
)


class SFTOptions(TrainerOptions):
    completion_only: bool = Field(
        True, description="prompt-completion rows: learn only the completion tokens"
    )
    merge_lora: bool = Field(True, description="save LoRA runs as a merged, plain model folder")


class DPOOptions(PreferenceOptions):
    merge_lora: bool = True


class RewardOptions(TrainerOptions):
    center_rewards: float | None = Field(
        None, ge=0, description="weight of the term that keeps rewards centred on zero"
    )
    merge_lora: bool = True


class SFTTrainer(Trainer):
    name = "sft"
    description = "supervised fine-tuning on messages or prompt/completion rows"
    Options = SFTOptions
    formats = SFT_FORMATS

    def run(self, job: TrainJob) -> TrainResult:
        from datagen_plugins.trainer.hf import run_sft

        return run_sft(job)


class DPOTrainer(Trainer):
    name = "dpo"
    description = "direct preference optimisation on prompt/chosen/rejected rows"
    Options = DPOOptions
    formats = PREFERENCE_FORMATS

    def loss(self, options: TrainerOptions) -> list[LossTerm]:
        assert isinstance(options, PreferenceOptions)
        return [LossTerm("dpo", params={"beta": options.beta})]

    def run(self, job: TrainJob) -> TrainResult:
        from datagen_plugins.trainer.hf import run_dpo

        return run_dpo(job)


class RewardTrainer(Trainer):
    name = "rm"
    description = "a scalar reward model trained on chosen/rejected pairs"
    Options = RewardOptions
    formats = PREFERENCE_FORMATS

    def loss(self, options: TrainerOptions) -> list[LossTerm]:
        return [LossTerm("reward")]

    def run(self, job: TrainJob) -> TrainResult:
        from datagen_plugins.trainer.hf import run_reward

        return run_reward(job)


class TermOption(BaseModel):
    """One loss term as written in options (``-o terms='[{...}]'``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objective: str
    weight: float = 1.0
    rows: str | None = None
    beta: float = 0.1


C3PO_TERMS = (
    {"objective": "dpo", "rows": "in_scope", "weight": 1.0, "beta": 0.1},
    {"objective": "nll", "rows": "out_of_scope", "weight": 0.2},
    {"objective": "nll", "rows": "near_scope", "weight": 0.1},
)


# The C3PO paper's training setting, applied when the rows are all of its kinds.
C3PO_SETTING = {"lora_r": 64, "lora_alpha": 128, "learning_rate": 5e-5, "epochs": 1.0}


class MixedOptions(TrainerOptions):
    """Defaults are C3PO's (DPO in scope + 0.2 NLL out of scope + 0.1 NLL near scope)."""

    terms: list[TermOption] = Field(default_factory=lambda: [TermOption(**t) for t in C3PO_TERMS])
    merge_lora: bool = True


MIXED_FORMAT = DatasetFormat("mixed preference", ("prompt", "chosen"))


class MixedTrainer(Trainer):
    """A weighted sum of DPO and NLL terms over row kinds (C3PO, and any such mix).

    Rows: ``prompt``, ``chosen``, ``rejected`` (null where a row only feeds NLL terms) and
    ``kind``. NLL counts completion tokens only.
    """

    name = "mixed"
    description = "weighted DPO + NLL terms over row kinds (C3PO's loss by default)"
    Options = MixedOptions
    formats = (MIXED_FORMAT,)

    def loss(self, options: TrainerOptions) -> list[LossTerm]:
        assert isinstance(options, MixedOptions)
        return [_term(t) for t in options.terms]

    def data_defaults(self, table: Any) -> dict[str, Any]:
        """C3PO's setting (LoRA r64/alpha128, lr 5e-5) when every row is one of its kinds."""
        if ROW_KIND_COLUMN not in table.column_names:
            return {}
        kinds = set(table.column(ROW_KIND_COLUMN).to_pylist())
        if kinds and kinds <= {str(t["rows"]) for t in C3PO_TERMS}:
            return dict(C3PO_SETTING)
        return {}

    def run(self, job: TrainJob) -> TrainResult:
        from datagen_plugins.trainer.mixed import run_mixed

        return run_mixed(job)


def _term(option: TermOption) -> LossTerm:
    from datagen.errors import InvalidOptions

    if option.objective not in ("dpo", "nll"):
        raise InvalidOptions(f"loss term objective {option.objective!r}; allowed: dpo, nll")
    params = {"beta": option.beta} if option.objective == "dpo" else {}
    return LossTerm(option.objective, option.weight, option.rows, params)  # type: ignore[arg-type]


__all__ = ["DPOTrainer", "MixedTrainer", "RewardTrainer", "SFTTrainer"]
