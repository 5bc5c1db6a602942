"""The DPO term of ``mixed`` equals TRL's ``DPOTrainer`` loss on the same batch."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the 'train' extra")
pytest.importorskip("trl", reason="needs the 'train' extra")

from tiny_lm import tiny_llama, token_rows, word_tokenizer, words  # noqa: E402


def pairs(count: int = 4) -> list[dict]:
    seqs = token_rows([5, 7, 6] * count, seed=11)
    return [{"prompt": words(seqs[3 * i]), "chosen": " " + words(seqs[3 * i + 1]),
             "rejected": " " + words(seqs[3 * i + 2])} for i in range(count)]


def perturb(model, seed: int = 5) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float32)
            param.add_(0.02 * noise.to(param.device, param.dtype))


def trl_loss(folder: Path, rows: list[dict], device: str, beta: float) -> float:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    policy = tiny_llama("sdpa").to(device)
    config = DPOConfig(output_dir=str(folder / "trl"), beta=beta, bf16=False,
                       use_cpu=device == "cpu", report_to="none",
                       per_device_train_batch_size=len(rows), max_length=64,
                       gradient_checkpointing=False)
    trainer = DPOTrainer(model=policy, ref_model=copy.deepcopy(policy), args=config,
                         train_dataset=Dataset.from_list(rows),
                         processing_class=word_tokenizer())
    perturb(trainer.model)
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    trainer.model.train()
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


def datagen_loss(folder: Path, rows: list[dict], device: str, beta: float) -> float:
    from transformers import TrainingArguments

    from datagen.training import LossTerm
    from datagen_plugins.trainer.mixed import Collator, Example, encode, trainer_class

    tokenizer = word_tokenizer()
    examples = []
    for row in rows:
        good, good_len = encode(tokenizer, row["prompt"], row["chosen"], 64)
        bad, bad_len = encode(tokenizer, row["prompt"], row["rejected"], 64)
        examples.append(Example(good, good_len, bad, bad_len, ""))
    args = TrainingArguments(output_dir=str(folder / "ours"), use_cpu=device == "cpu",
                             report_to="none", remove_unused_columns=False)
    trainer = trainer_class()(model=tiny_llama("sdpa").to(device).train(), args=args,
                              train_dataset=examples, data_collator=Collator(0),
                              terms=[LossTerm("dpo", params={"beta": beta})])
    perturb(trainer.model)
    batch = Collator(tokenizer.pad_token_id)(examples)
    batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


def parity(folder: Path, device: str = "cpu", beta: float = 0.1) -> tuple[float, float]:
    rows = pairs()
    return datagen_loss(folder, rows, device, beta), trl_loss(folder, rows, device, beta)


def test_dpo_term_matches_trl_on_one_batch_of_a_moved_policy(tmp_path: Path):
    ours, trl = parity(tmp_path)
    assert abs(ours - math.log(2)) > 1e-3  # the policy really moved away from the reference
    assert ours == pytest.approx(trl, abs=1e-5)
