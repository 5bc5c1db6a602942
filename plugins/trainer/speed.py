"""Runtime settings for the machine at hand, and the size of each optimizer step.

Two rules shape everything here:

1. **The same command trains the same model on any machine.** What an optimizer step *is*
   (how many tokens it averages over, hence how many steps an epoch has) depends only on
   the data and the options (:func:`plan_steps`); the device only decides how a step is
   split into micro-batches (gradient accumulation), how precise the matmuls are and
   which attention kernel runs.
2. **Packed conversations never see each other.** SFT rows are packed best-fit-decreasing
   into rows of ``max_length`` tokens; each conversation gets its own position ids and a
   block-diagonal causal mask (see ``packing.py``), so packing changes the speed, never
   the maths. With a varlen kernel that really imports (flash-attention-2) the packed rows
   are flattened into one padding-free row instead.

Why these choices (FIELD-NOTES "Training"): a 135M model on one H100 is bound by kernel
launches and padding, not by matrix work; TRL's plain configuration wastes about half its
compute on padding on chat rows of mixed length. TRL's padding-free path on sdpa put the
whole batch in one row (attention over 32k tokens, 3.3x slower), and its "wrapped"
packing lets conversations attend to each other. Per-row block-diagonal packing keeps
sdpa's cost per row and drops padding to a few percent.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from datagen.training import TrainerOptions

MIN_STEPS_PER_EPOCH = 50
"""An epoch has at least this many optimizer steps when the data allows (one row a step)."""
MAX_TOKENS_PER_STEP = 65536
"""Large datasets: about this many real tokens per optimizer step."""
TRL_DEFAULT_BATCH = 8
"""TRL's default rows per optimizer step, the reference of the learning-rate rule."""
CPU_MICRO_TOKENS = 8192
GPU_MICRO_TOKENS = 65536
FLASH_ATTENTION = "flash_attention_2"


@dataclass
class Settings:
    device: str
    precision: str
    attention: str
    packing: bool
    padding_free: bool
    batch_size: int
    grad_accum: int
    dataloader_workers: int
    liger: bool
    gradient_checkpointing: bool = False
    base_dtype: str = "fp32"
    micro_tokens: int = CPU_MICRO_TOKENS
    lr_scale: float = 1.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("notes")
        return values


@dataclass(frozen=True)
class StepPlan:
    """How an epoch is cut into optimizer steps; the device only sets ``micro_rows``."""

    rows_per_step: int
    micro_rows: int
    grad_accum: int
    steps_per_epoch: int
    tokens_per_step: int
    lr_scale: float = 1.0

    def describe(self, scales_lr: bool = True) -> str:
        steps = (f"{self.steps_per_epoch} steps an epoch of ~{self.tokens_per_step:,} tokens "
                 f"({self.micro_rows} rows x {self.grad_accum} accumulated)")
        if not scales_lr:  # the user chose the learning rate
            return steps
        return f"{steps}; learning rate x{self.lr_scale:.2f} for that step size"


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def varlen_attention() -> tuple[str | None, str]:
    """(kernel, reason): flash-attention-2 only when it really imports and can run here.

    A wheel built for another torch or CUDA is common: ``find_spec`` finds it, and the
    first forward pass crashes with an undefined symbol. Importing the varlen function
    here turns that into a clean fallback to sdpa with the reason in the start line.
    """
    if not has_module("flash_attn"):
        return None, "flash-attn not installed"
    try:
        module = importlib.import_module("flash_attn")
        module.flash_attn_varlen_func  # noqa: B018  (the symbol transformers calls)
    except Exception as exc:  # ImportError, OSError (undefined symbol), RuntimeError
        return None, f"flash-attn does not load ({type(exc).__name__}: {str(exc)[:120]})"
    from transformers.utils import is_flash_attn_2_available

    if not is_flash_attn_2_available():
        return None, "flash-attn imports but transformers will not use it (version or device)"
    return FLASH_ATTENTION, "flash-attn loads"


def choose(options: TrainerOptions, method: str, model_shape: dict[str, int] | None = None):
    """Device settings for ``method`` (``sft``, ``dpo``, ``rm``, ``mixed``); options win.

    ``batch_size`` and ``grad_accum`` are provisional until :func:`apply_plan`.
    """
    import torch

    if torch.cuda.is_available():
        return _gpu(options, method, torch, model_shape or {})
    return _cpu(options, method)


def _gpu(options: TrainerOptions, method: str, torch: Any, shape: dict[str, int]) -> Settings:
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    bf16 = torch.cuda.is_bf16_supported()
    precision = _precision(options, "bf16" if bf16 else "fp16")
    notes: list[str] = []
    attention = options.attention
    if attention is None:
        kernel, reason = varlen_attention()
        attention = kernel or "sdpa"
        notes.append(reason if kernel else f"{reason}: sdpa with block-diagonal packing masks")
    packing = _packing(options, method)
    frozen_base = options.lora and method != "rm"  # a reward head trains in full precision
    base_dtype = "bf16" if frozen_base and bf16 and options.precision != "fp32" else "fp32"
    total = torch.cuda.get_device_properties(0).total_memory
    micro, checkpointing = micro_tokens_for_memory(total, shape, options, base_dtype)
    if checkpointing and not options.gradient_checkpointing:
        notes.append("gradient checkpointing on: activations would not fit otherwise")
    return Settings(
        device="cuda", precision=precision, attention=attention, packing=packing,
        padding_free=packing and attention.startswith("flash_attention"),
        batch_size=1, grad_accum=1, dataloader_workers=2,
        liger=has_module("liger_kernel") and method == "sft",
        gradient_checkpointing=checkpointing or options.gradient_checkpointing,
        base_dtype=base_dtype, micro_tokens=micro, notes=notes,
    )


def _cpu(options: TrainerOptions, method: str) -> Settings:
    return Settings(
        device="cpu", precision=_precision(options, "fp32"),
        attention=options.attention or "sdpa", packing=_packing(options, method),
        padding_free=False, batch_size=1, grad_accum=1, dataloader_workers=0, liger=False,
        gradient_checkpointing=options.gradient_checkpointing, micro_tokens=CPU_MICRO_TOKENS,
    )


def _packing(options: TrainerOptions, method: str) -> bool:
    """SFT packs by default on every device (isolated, so only the speed changes)."""
    return method == "sft" and options.packing is not False


def _precision(options: TrainerOptions, default: str) -> str:
    return default if options.precision == "auto" else options.precision


# ----------------------------------------------------------------------------- memory


def micro_tokens_for_memory(
    total_bytes: int, shape: dict[str, int], options: TrainerOptions, base_dtype: str
) -> tuple[int, bool]:
    """Tokens per micro-batch that fit the card, and whether that needs checkpointing.

    A coarse, documented estimate: weights (bf16 frozen base for LoRA; fp32 weights,
    gradients and two Adam moments for a full fine-tune), ~34 bytes per hidden unit per
    layer per token of activations without checkpointing (~4 with it), and ~10 bytes per
    vocabulary entry per token for the logits and their gradient.
    """
    params = shape.get("params", 0)
    layers, hidden, vocab = shape.get("layers", 0), shape.get("hidden", 0), shape.get("vocab", 0)
    if not params:
        return GPU_MICRO_TOKENS, False
    weight_bytes = params * (2 if base_dtype == "bf16" else 4) if options.lora else params * 16
    usable = 0.8 * total_bytes - weight_bytes
    plain = layers * hidden * 34 + vocab * 10
    fits = int(usable / plain) if usable > 0 else 0
    if fits >= 2 * options.max_length:
        return min(GPU_MICRO_TOKENS, fits), False
    checkpointed = layers * hidden * 4 + vocab * 10
    fits = int(usable / checkpointed) if usable > 0 else 0
    return max(options.max_length, min(GPU_MICRO_TOKENS, fits)), True


def model_shape(config: Any) -> dict[str, int]:
    """The numbers :func:`micro_tokens_for_memory` reads, from a transformers config."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = int(getattr(text, "hidden_size", 0) or 0)
    layers = int(getattr(text, "num_hidden_layers", 0) or 0)
    inter = int(getattr(text, "intermediate_size", 0) or 4 * hidden)
    vocab = int(getattr(text, "vocab_size", 0) or 0)
    params = layers * (4 * hidden * hidden + 3 * hidden * inter) + vocab * hidden
    return {"params": params, "layers": layers, "hidden": hidden, "vocab": vocab}


# ----------------------------------------------------------------------------- steps


def plan_steps(
    row_tokens: list[int], options: TrainerOptions, micro_tokens: int, packed: bool,
    example_tokens: float | None = None,
) -> StepPlan:
    """Optimizer steps sized by the data: at least ``MIN_STEPS_PER_EPOCH`` an epoch (while a
    step holds at least one row), at most ``MAX_TOKENS_PER_STEP`` tokens a step.

    ``row_tokens`` are the training rows' token counts: packed rows when ``packed``, else
    one entry per example (a preference pair counts both sequences). ``micro_tokens`` is
    the device's budget for one forward/backward; it sets only ``micro_rows``.
    ``batch_size`` and ``grad_accum`` in the options override the plan.
    ``example_tokens`` is the mean example length (packed rows hold several).
    """
    rows = max(1, len(row_tokens))
    mean = max(1.0, sum(row_tokens) / rows)
    width = max(row_tokens, default=1) if not packed else options.max_length
    device_rows = max(1, micro_tokens // max(1, width))
    if options.batch_size:
        micro, accum = options.batch_size, options.grad_accum
    elif options.grad_accum > 1:
        micro, accum = min(rows_per_step(row_tokens), device_rows), options.grad_accum
    else:
        wanted = rows_per_step(row_tokens)
        micro = largest_divisor_up_to(wanted, device_rows)
        accum = wanted // micro
    steps = max(1, math.ceil(rows / (micro * accum)))
    tokens = int(mean * micro * accum)
    return StepPlan(micro * accum, micro, accum, steps, tokens,
                    lr_scale(tokens, example_tokens or mean))


def lr_scale(step_tokens: float, example_tokens: float) -> float:
    """Square-root rule for Adam (learning rate ~ sqrt(batch)) relative to TRL's default step
    of ``TRL_DEFAULT_BATCH`` examples, within [1/4, 4]: the method's default learning rate
    was tuned for that step, and a bigger step averages away more gradient noise."""
    reference = TRL_DEFAULT_BATCH * max(1.0, example_tokens)
    return min(4.0, max(0.25, math.sqrt(step_tokens / reference)))


def rows_per_step(row_tokens: list[int]) -> int:
    """Rows an optimizer step averages over; a multiple of 8 once it reaches 16, so that
    every device's micro-batch (a power of two, usually) divides it exactly."""
    rows = max(1, len(row_tokens))
    mean = max(1.0, sum(row_tokens) / rows)
    wanted = min(MAX_TOKENS_PER_STEP, sum(row_tokens) / MIN_STEPS_PER_EPOCH)
    count = max(1, min(rows, round(wanted / mean)))
    return 8 * round(count / 8) if count >= 16 else count


def largest_divisor_up_to(number: int, limit: int) -> int:
    return next(d for d in range(min(number, max(1, limit)), 0, -1) if number % d == 0)


def apply_plan(settings: Settings, plan: StepPlan, options: TrainerOptions) -> Settings:
    settings.batch_size, settings.grad_accum = plan.micro_rows, plan.grad_accum
    settings.lr_scale = plan.lr_scale if options.learning_rate is None else 1.0
    settings.notes.append(
        f"optimizer steps: {plan.describe(scales_lr=options.learning_rate is None)}")
    return settings


def torch_dtype(name: str) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name, torch.float32)
