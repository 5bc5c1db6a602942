"""SFT, DPO and reward-model training on TRL. Heavy: imported only inside ``Trainer.run``."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from datagen.errors import BackendError, InvalidInput, InvalidOptions, MissingExtra
from datagen.training import TrainerOptions, TrainJob, TrainResult
from datagen_plugins.trainer import speed


def require_stack() -> None:
    """Raise ``MissingExtra`` unless torch, transformers, trl and peft import."""
    for module in ("torch", "transformers", "trl", "peft"):
        if not speed.has_module(module):
            raise MissingExtra("train", f"training (no module {module!r})")
    import datasets
    from transformers.utils import logging

    logging.disable_progress_bar()  # datagen prints its own compact progress lines
    datasets.disable_progress_bars()


def run_sft(job: TrainJob) -> TrainResult:
    require_stack()
    from trl import SFTTrainer

    tokenizer = load_tokenizer(job.model)
    settings = prepared_settings(job, tokenizer, "sft")
    model = load_causal_lm(job.model, settings)
    trainer = SFTTrainer(
        model=model,
        args=sft_config(job.options, settings, job.output),
        train_dataset=to_dataset(job.table, list(job.format.text_columns)),
        processing_class=tokenizer,
        peft_config=lora_config(job, "CAUSAL_LM"),
    )
    isolate_packed_rows(trainer, settings, tokenizer)
    return fit(job, "sft", trainer, tokenizer, settings)


def run_dpo(job: TrainJob) -> TrainResult:
    require_stack()
    from trl import DPOConfig, DPOTrainer

    tokenizer = load_tokenizer(job.model)
    settings = prepared_settings(job, tokenizer, "dpo")
    model = load_causal_lm(job.model, settings)
    config = checked(
        DPOConfig,
        settings.lr_scale,
        **common_args(job.options, settings, job.output),
        beta=job.options.beta,  # type: ignore[attr-defined]
        loss_type=job.options.loss_type,  # type: ignore[attr-defined]
        max_length=job.options.max_length,
    )
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=to_dataset(job.table, list(job.format.text_columns)),
        processing_class=tokenizer,
        peft_config=lora_config(job, "CAUSAL_LM"),
    )
    return fit(job, "dpo", trainer, tokenizer, settings)


def run_reward(job: TrainJob) -> TrainResult:
    require_stack()
    from trl import RewardConfig
    from trl import RewardTrainer as TRLRewardTrainer

    tokenizer = load_tokenizer(job.model)
    settings = prepared_settings(job, tokenizer, "rm")
    model = load_reward_model(job.model, settings, tokenizer)
    center = getattr(job.options, "center_rewards", None)
    config = checked(
        RewardConfig,
        settings.lr_scale,
        **common_args(job.options, settings, job.output),
        max_length=job.options.max_length,
        center_rewards_coefficient=center,
    )
    trainer = TRLRewardTrainer(
        model=model,
        args=config,
        train_dataset=to_dataset(job.table, list(job.format.text_columns)),
        processing_class=tokenizer,
        peft_config=lora_config(job, "SEQ_CLS"),
    )
    return fit(job, "rm", trainer, tokenizer, settings)


def prepared_settings(job: TrainJob, tokenizer: Any, method: str) -> speed.Settings:
    """Device settings for the model's shape, with optimizer steps sized by the data."""
    from datagen_plugins.trainer.sizing import plan_for

    settings = speed.choose(job.options, method, model_shape(job.model))
    plan_for(job, tokenizer, method, settings)
    return settings


def model_shape(model: str) -> dict[str, int]:
    from transformers import AutoConfig

    try:
        return speed.model_shape(AutoConfig.from_pretrained(model))
    except (OSError, ValueError):
        return {}  # load_causal_lm reports the unreadable folder


def isolate_packed_rows(trainer: Any, settings: speed.Settings, tokenizer: Any) -> None:
    """Packed rows without a varlen kernel: positions reset and a block-diagonal mask.

    TRL's own collator for packed rows flattens the batch into one padding-free row, which
    only a varlen kernel (flash-attention) keeps apart cheaply; with sdpa/eager/flex the
    rows stay rows and :class:`IsolatedRowsCollator` marks where conversations begin.
    """
    if not settings.packing or settings.padding_free:
        return
    from datagen_plugins.trainer.packing import IsolatedRowsCollator

    trainer.data_collator = IsolatedRowsCollator(tokenizer.pad_token_id, count_tokens=True)


# ----------------------------------------------------------------------------- pieces


def sft_config(options: TrainerOptions, settings: speed.Settings, output: Path) -> Any:
    """TRL's SFT configuration with datagen's runtime settings (also used by the bench)."""
    from trl import SFTConfig

    return checked(
        SFTConfig,
        settings.lr_scale,
        **common_args(options, settings, output),
        max_length=options.max_length,
        packing=settings.packing,
        packing_strategy="bfd",  # keeps conversations whole; see isolate_packed_rows
        completion_only_loss=getattr(options, "completion_only", True),
        use_liger_kernel=settings.liger,
    )


def checked(config_class: Any, lr_scale: float = 1.0, **values: Any) -> Any:
    """Build a TRL config; a value TRL rejects (a loss type, a scheduler) is an option error.

    Without a ``learning_rate`` the config's own default is scaled by ``lr_scale`` (see
    ``speed.lr_scale``)."""
    try:
        config = config_class(**values)
    except (ValueError, TypeError) as exc:
        raise InvalidOptions(f"{config_class.__name__}: {_first_line(exc)}") from None
    if "learning_rate" not in values:
        config.learning_rate *= lr_scale
    return config


def common_args(opts: TrainerOptions, settings: speed.Settings, output: Path) -> dict[str, Any]:
    """Arguments every transformers/TRL config shares; no checkpoints, no reporting."""
    args: dict[str, Any] = {
        "output_dir": str(output),
        "per_device_train_batch_size": settings.batch_size,
        "gradient_accumulation_steps": settings.grad_accum,
        "num_train_epochs": opts.epochs,
        "max_steps": opts.max_steps,
        "lr_scheduler_type": opts.lr_scheduler,
        "warmup_steps": opts.warmup_ratio,  # a float below 1 is a ratio of all steps
        "weight_decay": opts.weight_decay,
        "logging_steps": opts.logging_steps,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": opts.seed,
        "bf16": settings.precision == "bf16",
        "fp16": settings.precision == "fp16",
        "use_cpu": settings.device == "cpu",
        "dataloader_num_workers": settings.dataloader_workers,
        "dataloader_pin_memory": settings.device == "cuda",
        "gradient_checkpointing": settings.gradient_checkpointing,
        "torch_compile": opts.compile,
    }
    if opts.learning_rate is not None:
        args["learning_rate"] = opts.learning_rate
    return args


def to_dataset(table: Any, columns: list[str]) -> Any:
    """Arrow -> ``datasets.Dataset`` with only the columns the trainer reads."""
    from datasets import Dataset

    return Dataset(table.select(columns))


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model: str, settings: speed.Settings) -> Any:
    """fp32 master weights (bf16/fp16 from autocast); a frozen LoRA base in bf16 on a GPU."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            model, dtype=speed.torch_dtype(settings.base_dtype),
            attn_implementation=settings.attention,
        )
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model {model}: {_first_line(exc)}") from None


def load_reward_model(model: str, settings: speed.Settings, tokenizer: Any) -> Any:
    from transformers import AutoModelForSequenceClassification

    try:
        loaded = AutoModelForSequenceClassification.from_pretrained(
            model, num_labels=1, dtype=speed.torch_dtype(settings.base_dtype),
            attn_implementation=settings.attention,
        )
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model {model}: {_first_line(exc)}") from None
    loaded.config.pad_token_id = tokenizer.pad_token_id
    return loaded


def lora_config(job: TrainJob, task_type: str) -> Any:
    if not job.options.lora:
        return None
    from peft import LoraConfig

    opts = job.options
    return LoraConfig(
        r=opts.lora_r,
        lora_alpha=opts.lora_alpha,
        lora_dropout=opts.lora_dropout,
        target_modules="all-linear",
        task_type=task_type,
    )


def fit(job: TrainJob, method: str, trainer: Any, tokenizer: Any, settings: speed.Settings):
    """Train with progress lines, save a plain model folder, and report the metrics."""
    if len(trainer.train_dataset) == 0:
        raise InvalidInput(
            f"dataset {job.source.ref}: no row fits in max_length={job.options.max_length} "
            "tokens; raise it with -o max_length=N"
        )
    from transformers.trainer_callback import PrinterCallback

    from datagen_plugins.trainer.progress import Progress, TokenCounter

    counter = TokenCounter.attach(trainer)
    progress = Progress(job.progress, counter)
    trainer.remove_callback(PrinterCallback)  # raw log dicts; Progress prints compact lines
    trainer.add_callback(progress)
    _announce(job, method, settings, trainer)
    clock = time.perf_counter()
    output = trainer.train()
    seconds = time.perf_counter() - clock
    save(trainer, tokenizer, job)
    metrics = final_metrics(output.metrics, progress, counter, seconds)
    job.progress(summary_line(method, metrics, job.output))
    return TrainResult(
        method=method,
        output=job.output,
        base_model=job.model,
        source=job.source,
        options=job.options.model_dump(mode="json"),
        metrics=metrics,
        settings=settings.summary(),
    )


def _announce(job: TrainJob, method: str, settings: speed.Settings, trainer: Any) -> None:
    rows = len(trainer.train_dataset)
    kind = "packed rows" if settings.packing else "rows"
    job.progress(
        f"train {method}: {job.source.ref} ({rows} {kind}, {job.format.name}) on {job.model}; "
        f"{optimizer_steps(rows, settings, job.options)} optimizer steps "
        f"(batch {settings.batch_size} x accumulation {settings.grad_accum}); "
        f"{settings.device} {settings.precision}, attention {settings.attention}"
        + (", gradient checkpointing" if settings.gradient_checkpointing else "")
        + (f", LoRA r{job.options.lora_r}" if job.options.lora else "")
    )
    for note in settings.notes:
        job.progress(f"note: {note}")


def optimizer_steps(rows: int, settings: speed.Settings, options: TrainerOptions) -> int:
    """The step count transformers will run (``max_steps`` wins over epochs)."""
    if options.max_steps > 0:
        return options.max_steps
    batches = math.ceil(rows / settings.batch_size)
    return math.ceil(options.epochs * max(1, math.ceil(batches / settings.grad_accum)))


def save(trainer: Any, tokenizer: Any, job: TrainJob) -> None:
    """A normal model folder: merged weights (LoRA folded in), tokenizer, chat template.

    Weights are stored in the base model's dtype (bf16 for the prepared SmolLM2): training
    ran on fp32 master weights, but the folder should be no larger than what it came from.
    """
    model = trainer.model
    if hasattr(model, "merge_and_unload") and getattr(job.options, "merge_lora", True):
        model = model.merge_and_unload()
    dtype = stored_dtype(job.model)
    if dtype is not None:
        model = model.to(dtype)
    job.output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(job.output, safe_serialization=True)
    tokenizer.save_pretrained(job.output)


def stored_dtype(model: str) -> Any:
    """The dtype a local base model folder was saved in, or None (keep fp32)."""
    import torch

    config = Path(model) / "config.json"
    if not config.is_file():
        return None
    values = json.loads(config.read_text())
    name = values.get("dtype") or values.get("torch_dtype")
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(str(name))


def final_metrics(
    reported: dict[str, Any], progress: Any, counter: Any, seconds: float
) -> dict[str, float]:
    metrics = {k: float(v) for k, v in progress.last_logs.items() if _is_number(v)}
    metrics.update({k: float(v) for k, v in reported.items() if _is_number(v)})
    if progress.losses:
        metrics["first_loss"] = progress.losses[0]
        metrics["final_loss"] = progress.losses[-1]
    metrics["steps"] = float(progress.steps)
    metrics["tokens"] = float(counter.tokens)
    metrics["tokens_per_second"] = counter.tokens / seconds if seconds else 0.0
    metrics["real_token_share"] = counter.real_share
    steady = progress.steady_tokens_per_second()
    if steady is not None:
        metrics["steady_tokens_per_second"] = steady
        metrics["steady_tokens_per_cpu_second"] = progress.steady_tokens_per_cpu_second() or 0.0
    return metrics


def summary_line(method: str, metrics: dict[str, float], output: Path) -> str:
    loss = metrics.get("final_loss", metrics.get("train_loss", math.nan))
    return (
        f"done {method}: {int(metrics['steps'])} steps, loss {metrics.get('first_loss', loss):.4f}"
        f" -> {loss:.4f}, {metrics['tokens_per_second']:,.0f} tok/s, "
        f"{metrics.get('train_runtime', 0):.1f} s; saved {output}"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
