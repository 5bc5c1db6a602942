"""Correctness checks of the trainer on a GPU; run by bench/gpu_check.sh.

    python bench/gpu_check.py --out gpu-check/checks.json

1. environment: versions, the device, what flash-attn detection found, the settings
   ``speed.choose`` picks for the SmolLM2-135M shape;
2. isolation on the GPU attention kernels (sdpa and eager; fp32 and bf16):
   the logits of conversation B packed after A against B alone, the gradient a loss on B
   leaves on A, and for contrast the same B in TRL's "wrapped" rows;
3. packed-row kernels timed (forward + backward, SmolLM2-135M shape, bf16 autocast):
   per-row block-diagonal sdpa (the default), TRL's padding-free single row on sdpa, and
   wrapped rows (no isolation; the speed ceiling);
4. ``mixed``: the first DPO term is ln 2 under bf16 autocast, full fine-tune (reference in
   the policy's dtype) and LoRA (bf16 base); both passes' LM-head outputs are bf16;
5. parity of the DPO term with TRL's ``DPOTrainer`` on one batch of a moved policy;
6. flex_attention (compiled on first use, so last): isolation and the packed-row timing.

Each check records its numbers and ``ok``; one failing check does not stop the others.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # shared test helpers

SMOLLM2_135M = dict(
    hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
    rope_theta=100000.0, tie_word_embeddings=True, rms_norm_eps=1e-5,
)
TINY = dict(SMOLLM2_135M, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, vocab_size=97)
KERNELS = ("sdpa", "eager")  # flex_attention compiles: checked last, on its own
DEVICE = "cuda"
SHAPE = SMOLLM2_135M


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--cpu", action="store_true",
                        help="a dry run of every check on a CPU with a tiny model")
    args = parser.parse_args()
    if args.cpu:
        global DEVICE, SHAPE
        DEVICE, SHAPE = "cpu", TINY
    results: dict[str, object] = {}
    for name, check in CHECKS:
        if args.cpu and name == "flex_attention":
            continue  # compiling flex kernels on a CPU takes longer than the check is worth
        clock = time.perf_counter()
        try:
            results[name] = check()
        except Exception as exc:  # recorded, and the next check still runs
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000],
                             "traceback": traceback.format_exc()[-3000:]}
        results[name]["seconds"] = round(time.perf_counter() - clock, 1)  # type: ignore[index]
        print(f"{name}: {json.dumps(results[name])[:600]}", flush=True)
        Path(args.out).write_text(json.dumps(results, indent=1))


# ----------------------------------------------------------------------------- helpers


def model_of(shape: dict, attention: str, dtype, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(**shape, attn_implementation=attention)
    return LlamaForCausalLM(config).to(DEVICE, dtype).eval()


def rows(lengths: list[int], vocab: int, seed: int = 1) -> list[list[int]]:
    import random

    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(n)] for n in lengths]


def packed(a: list[int], b: list[int], c: list[int]) -> dict:
    from datagen_plugins.trainer.packing import IsolatedRowsCollator

    batch = IsolatedRowsCollator(pad_id=0)([
        {"input_ids": a + b, "seq_lengths": [len(a), len(b)]},
        {"input_ids": c, "seq_lengths": [len(c)]},
    ])
    return {k: v.to(DEVICE) if hasattr(v, "to") else v for k, v in batch.items()}


def _synchronize() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- checks


def environment() -> dict:
    import peft
    import torch
    import transformers
    import trl

    from datagen.training import TrainerOptions
    from datagen_plugins.trainer import speed

    kernel, reason = speed.varlen_attention()
    shape = speed.model_shape(type("C", (), SMOLLM2_135M)())
    settings = speed.choose(TrainerOptions(), "sft", shape)
    torch.backends.cuda.matmul.allow_tf32 = False  # later checks compare fp32 numbers
    device = torch.cuda.get_device_name() if DEVICE == "cuda" else "cpu"
    return {"ok": True, "device": device, "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__,
            "trl": trl.__version__, "varlen_kernel": kernel, "varlen_reason": reason,
            "sft_settings_135m": settings.summary(), "notes": settings.notes}


def isolation() -> dict:
    import torch

    out: dict[str, object] = {}
    a, b, c = rows([300, 200, 480], SHAPE["vocab_size"])
    for kernel in KERNELS:
        for dtype in (torch.float32, torch.bfloat16):
            key = f"{kernel}/{str(dtype).split('.')[-1]}"
            try:
                out[key] = isolation_case(kernel, dtype, a, b, c)
            except Exception as exc:
                out[key] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:400]}
    return {"ok": all(v["ok"] for v in out.values()), **out}  # type: ignore[union-attr]


def isolation_case(kernel: str, dtype, a: list[int], b: list[int], c: list[int]) -> dict:
    import torch

    model = model_of(SHAPE, kernel, dtype)
    batch = packed(a, b, c)
    span = slice(len(a), len(a) + len(b))
    with torch.no_grad():
        together = model(**batch).logits[0, span].float()
        alone = model(input_ids=torch.tensor([b], device=DEVICE)).logits[0].float()
        wrapped = model(input_ids=batch["input_ids"][:1, : span.stop]).logits[0, span].float()
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_()
    logits = model(inputs_embeds=embeds, position_ids=batch["position_ids"], use_cache=False).logits
    logits[0, span].float().logsumexp(-1).sum().backward()
    leak = int(torch.count_nonzero(embeds.grad[0, : len(a)]))
    diff = float((together - alone).abs().max())
    mixed = float((wrapped - alone).abs().max())
    return {"ok": leak == 0 and diff < mixed / 20, "max_abs_diff_b": diff,
            "wrapped_max_abs_diff_b": mixed, "nonzero_grad_on_a": leak}


def kernel_timings() -> dict:
    import torch

    out: dict[str, object] = {"ok": True, "rows": 16, "row_tokens": 1024}
    lengths = [1024 - 8 * i for i in range(16)]  # nearly full rows of several conversations
    for name, build in TIMED:
        kernel = "flex_attention" if name.startswith("flex") else "sdpa"
        try:
            model = model_of(SHAPE, kernel, torch.float32).train()
            out[name] = time_steps(model, build(lengths), real_tokens=sum(lengths))
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
    return out


def flex_attention() -> dict:
    """Isolation and timing with flex_attention (compiled on first use; optional kernel)."""
    import torch

    a, b, c = rows([300, 200, 480], SHAPE["vocab_size"])
    out: dict[str, object] = {}
    for dtype in (torch.bfloat16, torch.float32):
        key = f"isolation/{str(dtype).split('.')[-1]}"
        out[key] = isolation_case("flex_attention", dtype, a, b, c)
    model = model_of(SHAPE, "flex_attention", torch.float32).train()
    lengths = [1024 - 8 * i for i in range(16)]
    out["timing_block_mask"] = time_steps(model, _rows_isolated(lengths), real_tokens=sum(lengths))
    return {"ok": all(v["ok"] for k, v in out.items() if k.startswith("isolation")), **out}


def _conversations(lengths: list[int]) -> list[list[list[int]]]:
    """Each row: conversations of 100-400 tokens that fill it."""
    import random

    rng = random.Random(3)
    out = []
    for total in lengths:
        parts, left = [], total
        while left:
            n = min(left, rng.randint(100, 400))
            parts.append(rows([n], SHAPE["vocab_size"], seed=rng.random())[0])
            left -= n
        out.append(parts)
    return out


def _rows_isolated(lengths: list[int]) -> dict:
    from datagen_plugins.trainer.packing import IsolatedRowsCollator

    batch = IsolatedRowsCollator(pad_id=0)([
        {"input_ids": sum(parts, []), "seq_lengths": [len(p) for p in parts]}
        for parts in _conversations(lengths)])
    return batch


def _one_row(lengths: list[int]) -> dict:
    import torch

    from datagen_plugins.trainer.packing import row_positions

    parts = [p for row in _conversations(lengths) for p in row]
    ids = torch.tensor([sum(parts, [])])
    positions = row_positions([len(p) for p in parts], ids.shape[1])[None]
    return {"input_ids": ids, "labels": ids.clone(), "position_ids": positions,
            "use_cache": False}


def _rows_wrapped(lengths: list[int]) -> dict:
    import torch

    width = max(lengths)
    ids = torch.tensor([sum(parts, []) + [0] * (width - sum(map(len, parts)))
                        for parts in _conversations(lengths)])
    return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones_like(ids)}


def time_steps(model, batch: dict, real_tokens: int, steps: int = 6, warmup: int = 2) -> dict:
    """Median forward + backward time; tokens/s counts the real (non-pad) tokens."""
    import torch

    batch = {k: v.to(DEVICE) if hasattr(v, "to") else v for k, v in batch.items()}
    tokens = real_tokens
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(warmup + steps):
        _synchronize()
        clock = time.perf_counter()
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=DEVICE == "cuda"):
            loss = model(**batch).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        _synchronize()
        times.append(time.perf_counter() - clock)
    step = sorted(times[warmup:])[len(times[warmup:]) // 2]
    return {"ms_per_step": round(1000 * step, 1), "tokens_per_s": round(tokens / step),
            "first_step_s": round(times[0], 2),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if DEVICE == "cuda" else None}


def mixed_reference() -> dict:
    import torch
    from test_train_mixed import KINDS, Collator, examples

    out: dict[str, object] = {}
    for variant in ("full", "lora"):
        trainer = _mixed_trainer(variant)
        dtypes: dict[str, set] = {}
        _watch_head(trainer, dtypes)
        batch = Collator(0)(examples(KINDS))
        batch = {k: v.to(DEVICE) if hasattr(v, "to") else v for k, v in batch.items()}
        trainer.compute_loss(trainer.model, batch)
        first = trainer.term_logs["loss/0_dpo_in_scope"][-1]
        reference = trainer.reference
        out[variant] = {
            "first_dpo_term": first, "ln2": math.log(2),
            "policy_param_dtypes": sorted({str(p.dtype) for p in trainer.model.parameters()}),
            "reference_param_dtypes": sorted({str(p.dtype) for p in reference.parameters()})
            if reference is not None else "adapters disabled",
            "lm_head_output_dtypes": {k: sorted(map(str, v)) for k, v in dtypes.items()},
            "ok": abs(first - math.log(2)) < 1e-6
            and bool(dtypes) and all(v == {torch.bfloat16} for v in dtypes.values()),
        }
    return {"ok": all(v["ok"] for v in out.values()), **out}  # type: ignore[index]


def _mixed_trainer(variant: str):
    import torch
    from test_train_mixed import C3PO, KINDS, examples
    from tiny_lm import tiny_llama
    from transformers import TrainingArguments

    from datagen_plugins.trainer.mixed import disable_dropout, trainer_class

    model = tiny_llama("sdpa", attention_dropout=0.3)
    if variant == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model.to(torch.bfloat16), LoraConfig(
            r=8, lora_alpha=16, lora_dropout=0.1, target_modules="all-linear",
            task_type="CAUSAL_LM"))
    disable_dropout(model)
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), report_to="none", bf16=True,
                             use_cpu=DEVICE == "cpu",
                             per_device_train_batch_size=4, remove_unused_columns=False)
    return trainer_class()(model=model.to(DEVICE).train(), args=args,
                           train_dataset=examples(KINDS), data_collator=None, terms=C3PO,
                           autocast_dtype=torch.bfloat16)


def _watch_head(trainer, dtypes: dict) -> None:
    """LM-head output dtypes: policy and reference apart, or both passes of a LoRA model."""
    def record(name):
        return lambda module, args, output: dtypes.setdefault(name, set()).add(output.dtype)

    model = trainer.model
    policy = model.get_base_model() if hasattr(model, "get_base_model") else model
    name = "policy" if trainer.reference is not None else "policy_and_reference"
    policy.lm_head.register_forward_hook(record(name))
    if trainer.reference is not None:
        trainer.reference.lm_head.register_forward_hook(record("reference"))


def dpo_parity() -> dict:
    import torch
    from test_train_dpo_parity import parity

    torch.backends.cuda.matmul.allow_tf32 = False
    ours, trl = parity(Path(tempfile.mkdtemp()), device=DEVICE)
    return {"ok": abs(ours - trl) < 1e-4 and abs(ours - math.log(2)) > 1e-3,
            "datagen": ours, "trl": trl, "abs_diff": abs(ours - trl)}


TIMED = (("sdpa_block_diagonal", _rows_isolated),
         ("sdpa_padding_free_one_row", _one_row),
         ("sdpa_wrapped_no_isolation", _rows_wrapped))

CHECKS: list[tuple[str, Callable[[], dict]]] = [
    ("environment", environment),
    ("dpo_parity", dpo_parity),
    ("mixed_reference", mixed_reference),
    ("isolation", isolation),
    ("kernel_timings", kernel_timings),
    ("flex_attention", flex_attention),
]

if __name__ == "__main__":
    main()
