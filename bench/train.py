"""Training speed: datagen's SFT defaults against plain TRL defaults, in the same run.

    python bench/train.py            # SmolLM2-135M shape, random init (meant for a GPU)
    python bench/train.py --small    # a reduced model and dataset that runs on a laptop CPU

Each configuration runs in its own process (clean peak-memory figures) on the same random
token rows (lengths spread around a mean, like real chat rows) and the same random-init
model saved to a temporary folder. Tokens/s counts real tokens only (no padding), after
warm-up steps. MFU uses 6 x (non-embedding params + LM head) + attention flops per token
against the card's dense bf16 peak (pass --peak-tflops on other hardware).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from datagen_plugins.trainer.commands import parse_overrides

SMOLLM2_135M = dict(
    hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
    rope_theta=100000.0, tie_word_embeddings=True, rms_norm_eps=1e-5,
)
SMALL = dict(SMOLLM2_135M, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
             num_attention_heads=3, num_key_value_heads=1, vocab_size=8192)
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0}


@dataclass
class Size:
    model: dict
    rows: int
    mean_tokens: int
    max_length: int
    steps: int
    warmup: int


FULL = Size(SMOLLM2_135M, rows=20000, mean_tokens=470, max_length=1024, steps=40, warmup=8)
REDUCED = Size(SMALL, rows=400, mean_tokens=120, max_length=256, steps=6, warmup=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="reduced size for a CPU")
    parser.add_argument("--steps", type=int, help="timed steps per configuration")
    parser.add_argument("--peak-tflops", type=float, help="device peak for MFU")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one of datagen's options (e.g. packing=false)")
    parser.add_argument("--worker", choices=["trl-default", "datagen"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = REDUCED if args.small else FULL
    if args.steps:
        size.steps = args.steps
    if args.worker:
        overrides = parse_overrides(tuple(args.set))
        result = run_worker(args.worker, size, Path(args.folder), args.peak_tflops, overrides)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_model_and_data(size, folder)
        results = [spawn(name, args, folder) for name in ("trl-default", "datagen")]
    report(results)


def spawn(name: str, args: argparse.Namespace, folder: Path) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--folder", str(folder)]
    command += ["--small"] if args.small else []
    command += ["--steps", str(args.steps)] if args.steps else []
    command += ["--peak-tflops", str(args.peak_tflops)] if args.peak_tflops else []
    for pair in args.set:
        command += ["--set", pair]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode:
        sys.exit(f"{name} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- setup


def make_model_and_data(size: Size, folder: Path) -> None:
    """A random-init model of the target shape, a word-level tokenizer, random token rows."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**size.model))
    model.save_pretrained(folder / "model")
    make_tokenizer(size.model["vocab_size"]).save_pretrained(folder / "model")
    rng = random.Random(0)
    vocab = size.model["vocab_size"]
    with open(folder / "rows.jsonl", "w") as out:
        for _ in range(size.rows):
            length = max(16, min(size.max_length, int(rng.gauss(size.mean_tokens,
                                                                  size.mean_tokens / 2))))
            out.write(json.dumps({"input_ids": [rng.randrange(3, vocab) for _ in range(length)]}))
            out.write("\n")


def make_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"w{i}": i for i in range(vocab_size)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="w2"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="w0", eos_token="w1",
                                   unk_token="w2")


# ----------------------------------------------------------------------------- worker


def run_worker(
    name: str, size: Size, folder: Path, peak_tflops: float | None, overrides: dict
) -> dict:
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from datagen.training import TrainerOptions
    from datagen_plugins.trainer import hf, speed
    from datagen_plugins.trainer.progress import TokenCounter

    cuda = torch.cuda.is_available()
    rows = load_dataset("json", data_files=str(folder / "rows.jsonl"), split="train")
    tokenizer = AutoTokenizer.from_pretrained(folder / "model")
    out = folder / f"out-{name}"
    steps = size.warmup + size.steps
    if name == "datagen":
        options = TrainerOptions(max_length=size.max_length, max_steps=steps,
                                 logging_steps=steps, **overrides)
        settings = speed.choose(options, "sft")
        model = hf.load_causal_lm(str(folder / "model"), settings)
        config = hf.sft_config(options, settings, out)
        described = settings.summary()
    else:  # what a user gets from TRL's own defaults, plus batch 32 and mixed precision
        model = AutoModelForCausalLM.from_pretrained(folder / "model", dtype=torch.float32,
                                                     attn_implementation="sdpa")
        config = SFTConfig(output_dir=str(out), per_device_train_batch_size=32,
                           max_length=size.max_length, packing=False, bf16=cuda,
                           use_cpu=not cuda, max_steps=steps, logging_steps=steps,
                           report_to="none", save_strategy="no", disable_tqdm=True)
        described = {"batch_size": 32, "packing": False, "attention": "sdpa",
                     "precision": "bf16" if cuda else "fp32"}
    trainer = SFTTrainer(model=model, args=config, train_dataset=rows, processing_class=tokenizer)
    counter = TokenCounter.attach(trainer)
    timer = StepTimer(size.warmup, counter, cuda)

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            timer.record(state.global_step)

    trainer.add_callback(Timer())
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    tokens_per_s = timer.tokens_per_second()
    return {
        "config": name,
        "settings": described,
        "tokens_per_s": tokens_per_s,
        "mfu": mfu(model.config, size, tokens_per_s, peak_tflops, cuda),
        "peak_mem_gib": peak_memory_gib(cuda),
        "timed_steps": size.steps,
        "device": torch.cuda.get_device_name() if cuda else f"cpu x{os.cpu_count()}",
    }


class StepTimer:
    """Tokens and seconds between the end of warm-up and the last step."""

    def __init__(self, warmup: int, counter, cuda: bool):
        self.warmup, self.counter, self.cuda = warmup, counter, cuda
        self.start_time = self.start_tokens = None
        self.end_time = self.end_tokens = None

    def record(self, step: int) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        now = time.perf_counter()
        if step == self.warmup:
            self.start_time, self.start_tokens = now, self.counter.tokens
        self.end_time, self.end_tokens = now, self.counter.tokens

    def tokens_per_second(self) -> float:
        return (self.end_tokens - self.start_tokens) / (self.end_time - self.start_time)


def mfu(config, size: Size, tokens_per_s: float, peak_tflops: float | None, cuda: bool):
    """Model flops utilisation, or None when the device's peak is unknown."""
    if peak_tflops is None and cuda:
        import torch

        name = torch.cuda.get_device_name()
        peak_tflops = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    if not peak_tflops:
        return None
    d, layers = config.hidden_size, config.num_hidden_layers
    kv = d * config.num_key_value_heads // config.num_attention_heads
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * config.intermediate_size
    dense = layers * per_layer + d * config.vocab_size  # the LM head is a real matmul
    attention = 6 * layers * d * size.mean_tokens  # causal: half of 12 * L * d * T
    flops_per_token = 6 * dense + attention
    return tokens_per_s * flops_per_token / (peak_tflops * 1e12)


def peak_memory_gib(cuda: bool) -> float:
    if cuda:
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


# ----------------------------------------------------------------------------- report


def report(results: list[dict]) -> None:
    base, ours = results
    print(f"device: {base['device']}")
    print(f"{'config':12} {'tokens/s':>10} {'MFU':>7} {'peak GiB':>9}  settings")
    for r in results:
        shown = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        print(f"{r['config']:12} {r['tokens_per_s']:10,.0f} {shown:>7} "
              f"{r['peak_mem_gib']:9.2f}  {json.dumps(r['settings'])}")
    ratio = ours["tokens_per_s"] / base["tokens_per_s"]
    print(f"ratio datagen / trl-default tokens/s: {ratio:.2f}x")


if __name__ == "__main__":
    main()
