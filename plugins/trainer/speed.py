"""Runtime settings that make training fast on the machine at hand.

Why these defaults (FIELD-NOTES "Training", SmolLM2-135M on one H100):
- TRL's plain configuration (batch 32, no packing, sdpa) reaches ~60k tok/s, 4.9% MFU: a
  small model is bound by kernel launches and padding, not by matrix work, so the GPU wins
  come from more real tokens per step and fewer wasted (pad) tokens.
- Padding-free packing only pays with a varlen attention kernel (flash-attention-2). With
  sdpa, TRL's padding-free path attends over the whole packed batch and was 3.3x *slower*.
  So: flash-attention-2 present -> best-fit-decreasing packing, padding-free (no pad
  tokens, no cross-document attention); otherwise -> "wrapped" packing, fixed-length rows
  with no padding, which keeps sdpa on its fast causal path.
- bf16 autocast, TF32 matmuls, ~64k tokens per device step, Liger's fused cross-entropy
  when installed (the 49k-word vocabulary makes the logits the largest tensor).
On CPU: fp32 (bf16 autocast is slow on most CPUs), no packing, ~8k tokens a step, no workers.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field
from typing import Any

from datagen.training import TrainerOptions

GPU_TOKENS_PER_STEP = 65536
CPU_TOKENS_PER_STEP = 8192  # bigger CPU matmuls pay too (bench --small), within laptop memory


@dataclass
class Settings:
    device: str
    precision: str
    attention: str
    packing: bool
    padding_free: bool
    batch_size: int
    dataloader_workers: int
    liger: bool
    notes: list[str] = field(default_factory=list)

    @property
    def packing_strategy(self) -> str:
        return "bfd" if self.padding_free else "wrapped"

    def summary(self) -> dict[str, Any]:
        values = asdict(self)
        values.pop("notes")
        return values


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def varlen_attention() -> str | None:
    """The best installed attention that handles packed sequences without padding."""
    if has_module("flash_attn"):
        return "flash_attention_2"
    return None


def choose(options: TrainerOptions, method: str) -> Settings:
    """Settings for ``method`` (``sft``, ``dpo``, ``rm``, ``mixed``), options taking priority."""
    import torch

    if torch.cuda.is_available():
        return _gpu(options, method, torch)
    return _cpu(options, method)


def _gpu(options: TrainerOptions, method: str, torch: Any) -> Settings:
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    bf16 = torch.cuda.is_bf16_supported()
    precision = _precision(options, "bf16" if bf16 else "fp16")
    varlen = varlen_attention()
    attention = options.attention or varlen or "sdpa"
    can_pack = method == "sft"
    packing = can_pack if options.packing is None else options.packing and can_pack
    padding_free = packing and attention in ("flash_attention_2", "flash_attention_3")
    rows_per_token_budget = max(1, GPU_TOKENS_PER_STEP // options.max_length)
    if method != "sft":  # pairs: two sequences per row, plus a reference pass
        rows_per_token_budget = max(1, rows_per_token_budget // 4)
    notes = [] if varlen else ["no flash-attn: packing without padding-free on sdpa"]
    return Settings(
        device="cuda",
        precision=precision,
        attention=attention,
        packing=packing,
        padding_free=padding_free,
        batch_size=options.batch_size or rows_per_token_budget,
        dataloader_workers=2,
        liger=has_module("liger_kernel") and method == "sft",
        notes=notes,
    )


def _cpu(options: TrainerOptions, method: str) -> Settings:
    return Settings(
        device="cpu",
        precision=_precision(options, "fp32"),
        attention=options.attention or "sdpa",
        packing=bool(options.packing) and method == "sft",
        padding_free=False,
        batch_size=options.batch_size or max(2, min(32, CPU_TOKENS_PER_STEP // options.max_length)),
        dataloader_workers=0,
        liger=False,
    )


def _precision(options: TrainerOptions, default: str) -> str:
    return default if options.precision == "auto" else options.precision


def torch_dtype(settings: Settings) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.precision, torch.float32)
