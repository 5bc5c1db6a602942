"""Training: datagen's defaults against TRL's defaults, side by side, in the same run.

    python bench/train.py --small                  # reduced model and data, for a CPU
    python bench/train.py                          # SmolLM2-135M shape, for one GPU
    python bench/train.py --methods sft --shapes spread --out results.json

What makes the comparison fair:
- The baseline is TRL run as a user would: ``SFTTrainer``/``DPOTrainer`` given the model
  folder and TRL's own config defaults (bf16, batch 8, gradient checkpointing, its learning
  rates). The only settings given are ``num_train_epochs=1``, ``max_length``, no reports
  and no checkpoints (and ``use_cpu`` on a CPU, which TRL's bf16 default requires).
  datagen runs through its public ``train()`` with no options but ``epochs=1`` and
  ``max_length``.
- Both train one epoch over the same rows, so they see the same real tokens; both models
  are then scored on the same held-out rows (completion NLL per token for SFT; DPO loss
  against the starting model and preference accuracy for DPO and mixed). A faster
  configuration that learns less loses here.
- The data is learnable: token sequences from a fixed random Markov chain (4 successors a
  token), so the held-out NLL can fall from ln(vocabulary) towards ln 4. Rejected
  completions are uniformly random tokens.
- Two data shapes: ``uniform`` (lengths within 5% of the mean) and ``spread`` (log-uniform
  from 24 tokens to ``max_length``, as chat data is), with equal mean token counts.
- Tokens/s counts real tokens only, after two warm-up steps, with the same counter on
  both sides; the real-token share (real tokens / token slots fed) shows the padding.
  On a CPU the ratios use tokens per CPU-second of the process (``tok/cpu-s``), which a
  busy shared machine does not distort the way it distorts wall time.
- Each run is its own process (clean peak-memory figures). ``mixed`` has no TRL
  counterpart: its pairs/s is compared with TRL's DPO on pairs of the same shape.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

SMOLLM2_135M = dict(
    hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
    num_key_value_heads=3, vocab_size=49152, max_position_embeddings=8192,
    rope_theta=100000.0, tie_word_embeddings=True, rms_norm_eps=1e-5,
)
SMALL = dict(SMOLLM2_135M, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
             num_attention_heads=3, num_key_value_heads=1, vocab_size=2048)
SHAPES = ("uniform", "spread")
METHODS = ("sft", "dpo", "mixed")


@dataclass
class Size:
    model: dict
    max_length: int
    sft_tokens: int  # real tokens in each SFT training set (one epoch)
    pairs: int  # preference pairs in each DPO / mixed training set
    held_out: int


FULL = Size(SMOLLM2_135M, max_length=1024, sft_tokens=600_000, pairs=500, held_out=64)
REDUCED = Size(SMALL, max_length=256, sft_tokens=60_000, pairs=160, held_out=32)


def main() -> None:
    args = parse_args()
    size = REDUCED if args.small else FULL
    if args.sft_tokens:
        size = replace(size, sft_tokens=args.sft_tokens)
    if args.pairs:
        size = replace(size, pairs=args.pairs)
    if args.worker:
        result = run_worker(args.worker, args.method, args.shape, size, Path(args.folder))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_model(size, folder)
        results: list[dict] = []
        for method, shape in runs(args.methods, args.shapes):
            make_data(method, shape, size, folder)
            configs = ("datagen",) if method == "mixed" else ("trl-default", "datagen")
            for config in configs:
                results.append(spawn(config, method, shape, args, folder))
                save(args.out, results, [])  # partial results survive a time limit
    save(args.out, results, report(results))


def save(out: str | None, results: list[dict], lines: list[str]) -> None:
    if out:
        Path(out).write_text(json.dumps({"results": results, "report": lines}, indent=1))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="reduced sizes for a CPU")
    parser.add_argument("--methods", default="sft,dpo,mixed", help="comma list of sft,dpo,mixed")
    parser.add_argument("--shapes", default="uniform,spread", help="comma list of data shapes")
    parser.add_argument("--sft-tokens", type=int, help="real tokens per SFT training set")
    parser.add_argument("--pairs", type=int, help="pairs per DPO/mixed training set")
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    return parser.parse_args()


def runs(methods: str, shapes: str) -> list[tuple[str, str]]:
    chosen = [m for m in methods.split(",") if m]
    wanted = [s for s in shapes.split(",") if s]
    unknown = sorted(set(chosen) - set(METHODS)) + sorted(set(wanted) - set(SHAPES))
    if unknown:
        sys.exit(f"unknown method or shape: {', '.join(unknown)}")
    return [(m, s) for m in chosen for s in wanted]


def spawn(config: str, method: str, shape: str, args: argparse.Namespace, folder: Path) -> dict:
    command = [sys.executable, __file__, "--worker", config, "--method", method,
               "--shape", shape, "--folder", str(folder)]
    command += ["--small"] if args.small else []
    command += ["--sft-tokens", str(args.sft_tokens)] if args.sft_tokens else []
    command += ["--pairs", str(args.pairs)] if args.pairs else []
    clock = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode:
        sys.exit(f"{config} {method} {shape} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - clock
    result["log"] = [line for line in done.stderr.splitlines()
                     if line.startswith(("train ", "note: ", "done "))]
    print(f"  ran {config:11} {method:5} {shape:7} in {result['wall_s']:.0f}s", flush=True)
    return result


# ----------------------------------------------------------------------------- data


def make_model(size: Size, folder: Path) -> None:
    """A random-init model of the target shape (stored in bf16, as SmolLM2 ships)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**size.model)).to(torch.bfloat16)
    model.save_pretrained(folder / "model")
    make_tokenizer(size.model["vocab_size"]).save_pretrained(folder / "model")


def make_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "</s>", "<unk>"]  # never inside a word, so TRL may append "</s>"
    vocab = {name: i for i, name in enumerate(special)}
    vocab |= {f"w{i}": i for i in range(len(special), vocab_size)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")


class Chain:
    """A fixed random Markov chain: each token has 4 equally likely successors."""

    def __init__(self, vocab: int, seed: int = 7):
        rng = random.Random(seed)
        self.vocab = vocab
        self.next = [[rng.randrange(3, vocab) for _ in range(4)] for _ in range(vocab)]

    def walk(self, rng: random.Random, length: int, start: int | None = None) -> list[int]:
        token = rng.randrange(3, self.vocab) if start is None else start
        out = []
        for _ in range(length):
            token = rng.choice(self.next[token])
            out.append(token)
        return out


def row_length(shape: str, size: Size, rng: random.Random) -> int:
    """Tokens of one row (prompt + completion + end token); both shapes share a mean."""
    low, high = 24, size.max_length - 2
    mean = (high - low) / math.log(high / low)  # the log-uniform mean
    if shape == "uniform":
        return int(min(high, max(low, rng.gauss(mean, 0.05 * mean))))
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def text(tokens: list[int]) -> str:
    return " ".join(f"w{t}" for t in tokens)


def sft_row(chain: Chain, length: int, rng: random.Random) -> dict:
    tokens = chain.walk(rng, length)
    cut = max(1, length // 4)
    return {"prompt": text(tokens[:cut]), "completion": " " + text(tokens[cut:])}


def pair_row(chain: Chain, length: int, rng: random.Random) -> dict:
    prompt = chain.walk(rng, max(1, length // 4))
    good = chain.walk(rng, max(1, length - len(prompt)), start=prompt[-1])
    bad = [rng.randrange(3, chain.vocab) for _ in good]
    return {"prompt": text(prompt), "chosen": " " + text(good), "rejected": " " + text(bad)}


def mixed_row(chain: Chain, length: int, rng: random.Random) -> dict:
    row = pair_row(chain, length, rng)
    kind = rng.choice(["in_scope", "in_scope", "near_scope", "out_of_scope"])
    return {**row, "kind": kind, "rejected": row["rejected"] if kind == "in_scope" else None}


def make_data(method: str, shape: str, size: Size, folder: Path) -> None:
    rng = random.Random(f"{method}-{shape}")
    chain = Chain(size.model["vocab_size"])
    maker = {"sft": sft_row, "dpo": pair_row, "mixed": mixed_row}[method]
    train, tokens = [], 0
    while (tokens < size.sft_tokens) if method == "sft" else (len(train) < size.pairs):
        length = row_length(shape, size, rng)
        train.append(maker(chain, length, rng))
        tokens += length
    held = [maker(chain, row_length(shape, size, rng), rng) for _ in range(size.held_out)]
    for name, rows in (("train", train), ("held", held)):
        with open(folder / f"{method}-{shape}-{name}.jsonl", "w") as out:
            out.writelines(json.dumps(row) + "\n" for row in rows)


def read_rows(folder: Path, method: str, shape: str, name: str) -> list[dict]:
    path = folder / f"{method}-{shape}-{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- workers


def run_worker(config: str, method: str, shape: str, size: Size, folder: Path) -> dict:
    import torch

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rows = read_rows(folder, method, shape, "train")
    out = folder / f"out-{config}-{method}-{shape}"
    if config == "datagen":
        metrics, settings = run_datagen(method, rows, size, folder, out)
    else:
        metrics, settings = run_trl_default(method, rows, size, folder, out)
    held = read_rows(folder, method, shape, "held")
    return {
        "config": config, "method": method, "shape": shape, "settings": settings,
        "rows": len(rows), "pairs": len([r for r in rows if r.get("rejected")]),
        "tokens": metrics.get("tokens"), "steps": metrics.get("steps"),
        "tokens_per_s": metrics.get("steady_tokens_per_second"),
        "tokens_per_cpu_s": metrics.get("steady_tokens_per_cpu_second"),
        "real_token_share": metrics.get("real_token_share"),
        "train_s": metrics.get("train_runtime"),
        "peak_mem_gib": peak_memory_gib(cuda),
        "held_out": evaluate(method, out, folder / "model", held, size),
        "device": torch.cuda.get_device_name() if cuda else f"cpu x{os.cpu_count()}",
    }


def run_datagen(method: str, rows: list[dict], size: Size, folder: Path, out: Path):
    import pyarrow as pa

    from datagen.training import train

    lines: list[str] = []
    result = train(method, data=pa.Table.from_pylist(rows), model=folder / "model", output=out,
                   options={"epochs": 1, "max_length": size.max_length}, record=False,
                   progress=lines.append)
    print("\n".join(line for line in lines if not line.startswith("step ")), file=sys.stderr)
    return result.metrics, result.settings


def run_trl_default(method: str, rows: list[dict], size: Size, folder: Path, out: Path):
    """TRL as a user runs it: the model folder, the rows, TRL's config defaults."""
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from transformers.trainer_callback import PrinterCallback

    from datagen_plugins.trainer.hf import final_metrics
    from datagen_plugins.trainer.progress import Progress, TokenCounter

    tokenizer = AutoTokenizer.from_pretrained(folder / "model")
    common = dict(output_dir=str(out), num_train_epochs=1, max_length=size.max_length,
                  report_to="none", save_strategy="no", disable_tqdm=True)
    if not torch.cuda.is_available():
        common["use_cpu"] = True  # TRL's bf16 default refuses a CPU without it
    if method == "sft":
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(model=str(folder / "model"), args=SFTConfig(**common),
                             train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    else:
        from trl import DPOConfig, DPOTrainer

        pairs = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]
        trainer = DPOTrainer(model=str(folder / "model"), args=DPOConfig(**common),
                             train_dataset=Dataset.from_list(pairs), processing_class=tokenizer)
    counter = TokenCounter.attach(trainer)
    progress = Progress(lambda line: None, counter)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(progress)
    clock = time.perf_counter()
    output = trainer.train()
    metrics = final_metrics(output.metrics, progress, counter, time.perf_counter() - clock)
    trainer.model.to(_bf16()).save_pretrained(out)  # stored as datagen stores (bf16)
    tokenizer.save_pretrained(out)
    args = trainer.args
    settings = {"batch_size": args.per_device_train_batch_size, "bf16": args.bf16,
                "gradient_checkpointing": args.gradient_checkpointing,
                "learning_rate": args.learning_rate, "packing": getattr(args, "packing", False),
                "attention": trainer.model.config._attn_implementation}
    return metrics, settings


def _bf16():
    import torch

    return torch.bfloat16


def peak_memory_gib(cuda: bool) -> float:
    if cuda:
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


# ----------------------------------------------------------------------------- held-out


def evaluate(method: str, trained: Path, start: Path, rows: list[dict], size: Size) -> dict:
    """Held-out scores of a saved model, computed the same way for both sides."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(trained)
    model = AutoModelForCausalLM.from_pretrained(trained, dtype=torch.float32).to(device).eval()
    if method == "sft":
        nll = completion_nll(model, tokenizer, rows, size, device)
        return {"nll_per_token": nll}
    reference = AutoModelForCausalLM.from_pretrained(start, dtype=torch.float32).to(device).eval()
    pairs = [r for r in rows if r.get("rejected")]
    return preference_scores(model, reference, tokenizer, pairs, size, device)


def scored_batches(tokenizer, rows: list[dict], column: str, size: Size, device: str):
    from datagen_plugins.trainer.mixed import Collator, Example, encode

    examples = []
    for row in rows:
        ids, prompt_len = encode(tokenizer, row["prompt"], row[column], size.max_length)
        examples.append(Example(ids, prompt_len, None, 0, ""))
    collate = Collator(tokenizer.pad_token_id)
    for start in range(0, len(examples), 16):
        batch = collate(examples[start:start + 16])
        yield [batch[k].to(device) for k in ("input_ids", "attention_mask", "loss_mask")]


def completion_nll(model, tokenizer, rows: list[dict], size: Size, device: str) -> float:
    import torch

    from datagen_plugins.trainer.mixed import sequence_logps

    total, count = 0.0, 0.0
    with torch.no_grad():
        for batch in scored_batches(tokenizer, rows, "completion", size, device):
            logps, tokens = sequence_logps(model, *batch)
            total, count = total - float(logps.sum()), count + float(tokens.sum())
    return total / count


def preference_scores(model, reference, tokenizer, pairs, size: Size, device: str) -> dict:
    import torch
    import torch.nn.functional as F

    from datagen_plugins.trainer.mixed import sequence_logps

    margins = []
    with torch.no_grad():
        chosen = scored_batches(tokenizer, pairs, "chosen", size, device)
        rejected = scored_batches(tokenizer, pairs, "rejected", size, device)
        for good, bad in zip(chosen, rejected, strict=True):
            policy = sequence_logps(model, *good)[0] - sequence_logps(model, *bad)[0]
            ref = sequence_logps(reference, *good)[0] - sequence_logps(reference, *bad)[0]
            margins.append(policy - ref)
    margin = torch.cat(margins)
    return {"dpo_loss": float(-F.logsigmoid(0.1 * margin).mean()),
            "accuracy": float((margin > 0).float().mean())}


# ----------------------------------------------------------------------------- report


def report(results: list[dict]) -> list[str]:
    lines = [f"device: {results[0]['device']}",
             f"{'method':6} {'shape':8} {'config':12} {'tok/s':>9} {'tok/cpu-s':>9} "
             f"{'pairs/s*':>8} {'real%':>6} "
             f"{'steps':>6} {'GiB':>6}  held-out"]
    for r in results:
        pairs = pairs_per_s(r)
        lines.append(
            f"{r['method']:6} {r['shape']:8} {r['config']:12} {r['tokens_per_s'] or 0:9,.0f} "
            f"{r['tokens_per_cpu_s'] or 0:9,.0f} "
            f"{pairs if pairs is not None else float('nan'):8.1f} "
            f"{100 * (r['real_token_share'] or 0):5.1f}% {int(r['steps'] or 0):6d} "
            f"{r['peak_mem_gib']:6.2f}  {json.dumps(r['held_out'])}")
    lines.append("* pairs/s per CPU-second on a CPU")
    lines += ratios(results)
    for line in lines:
        print(line)
    return lines


def rate(result: dict) -> float:
    """Tokens/s on a GPU; tokens per CPU-second on a CPU."""
    key = "tokens_per_cpu_s" if result["device"].startswith("cpu") else "tokens_per_s"
    return result.get(key) or 0.0


def pairs_per_s(result: dict) -> float | None:
    if result["method"] == "sft" or not rate(result) or not result["tokens"]:
        return None
    return rate(result) * result["pairs"] / result["tokens"]


def ratios(results: list[dict]) -> list[str]:
    """datagen / trl-default per (method, shape); mixed against dpo on the same shape."""
    base = {(r["method"], r["shape"]): r for r in results if r["config"] == "trl-default"}
    lines = []
    for r in results:
        if r["config"] != "datagen":
            continue
        other = base.get(("dpo" if r["method"] == "mixed" else r["method"], r["shape"]))
        if other is None or not other["tokens_per_s"]:
            continue
        if r["method"] == "sft":
            speed = rate(r) / rate(other)
            loss = f"held-out NLL {r['held_out']['nll_per_token']:.4f} vs " \
                   f"{other['held_out']['nll_per_token']:.4f}"
            unit = "tokens per CPU-second" if r["device"].startswith("cpu") else "tokens/s"
            lines.append(f"ratio sft {r['shape']}: {speed:.2f}x {unit}; {loss}")
        else:
            speed = (pairs_per_s(r) or 0) / (pairs_per_s(other) or 1)
            loss = f"held-out DPO loss {r['held_out']['dpo_loss']:.4f} vs " \
                   f"{other['held_out']['dpo_loss']:.4f}"
            lines.append(f"ratio {r['method']} {r['shape']} (vs TRL dpo): {speed:.2f}x pairs/s; "
                         f"{loss}")
    return lines


if __name__ == "__main__":
    main()

