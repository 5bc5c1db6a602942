"""The ``mixed`` (C3PO) loss on a tiny model: reference, dropout, log-probs, row routing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="needs the 'train' extra")
pytest.importorskip("transformers", reason="needs the 'train' extra")

from tiny_lm import tiny_llama, token_rows  # noqa: E402

from datagen.training import LossTerm  # noqa: E402
from datagen_plugins.trainer.mixed import (  # noqa: E402
    Collator,
    Example,
    chunked_token_logps,
    disable_dropout,
    sequence_logps,
    trainer_class,
)

C3PO = [LossTerm("dpo", 1.0, "in_scope", {"beta": 0.1}), LossTerm("nll", 0.2, "out_of_scope"),
        LossTerm("nll", 0.1, "near_scope")]


def examples(kinds: list[str]) -> list[Example]:
    seqs = token_rows([12, 9, 14, 7, 11, 10, 13, 8], seed=3)
    rows = []
    for i, kind in enumerate(kinds):
        rejected = seqs[2 * i + 1] if kind == "in_scope" else None
        rows.append(Example(seqs[2 * i], 4, rejected, 4 if rejected else 0, kind))
    return rows


def build(tmp_path: Path, model, kinds, autocast=None, terms=C3PO):
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none",
                             per_device_train_batch_size=len(kinds),
                             remove_unused_columns=False)
    disable_dropout(model)
    return trainer_class()(model=model.train(), args=args, train_dataset=examples(kinds),
                           data_collator=Collator(0), terms=terms, autocast_dtype=autocast)


def first_dpo_term(trainer, kinds) -> float:
    batch = Collator(0)(examples(kinds))
    trainer.compute_loss(trainer.model, batch)
    return trainer.term_logs["loss/0_dpo_in_scope"][-1]


KINDS = ["in_scope", "out_of_scope", "in_scope", "near_scope"]


def test_first_dpo_term_is_ln2_with_dropout_configured(tmp_path: Path):
    model = tiny_llama("sdpa", attention_dropout=0.4)
    trainer = build(tmp_path, model, KINDS)
    assert trainer.reference is not None
    assert {p.dtype for p in trainer.reference.parameters()} == {torch.float32}
    assert first_dpo_term(trainer, KINDS) == pytest.approx(math.log(2), abs=1e-6)
    assert first_dpo_term(trainer, KINDS) == pytest.approx(math.log(2), abs=1e-6)


def test_policy_pass_is_deterministic_in_train_mode_once_dropout_is_off():
    model = tiny_llama("eager", attention_dropout=0.5).train()
    ids = torch.tensor(token_rows([10]))
    drifting = [model(input_ids=ids).logits for _ in range(2)]
    assert not torch.allclose(*drifting)  # the check can fail: dropout is really there
    disable_dropout(model)
    steady = [model(input_ids=ids).logits for _ in range(2)]
    torch.testing.assert_close(*steady, rtol=0, atol=0)


def test_lora_reference_is_the_base_and_starts_at_ln2(tmp_path: Path):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama("sdpa"), LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.5, target_modules="all-linear", task_type="CAUSAL_LM"))
    trainer = build(tmp_path, model, KINDS)
    assert trainer.reference is None  # adapters disabled instead of a copy
    assert first_dpo_term(trainer, KINDS) == pytest.approx(math.log(2), abs=1e-6)


def test_bf16_autocast_covers_the_reference_pass_too(tmp_path: Path):
    trainer = build(tmp_path, tiny_llama("sdpa"), KINDS, autocast=torch.bfloat16)
    dtypes: dict[str, set] = {"policy": set(), "reference": set()}

    def record(name):
        return lambda module, args, output: dtypes[name].add(output.dtype)

    trainer.model.lm_head.register_forward_hook(record("policy"))
    trainer.reference.lm_head.register_forward_hook(record("reference"))
    assert first_dpo_term(trainer, KINDS) == pytest.approx(math.log(2), abs=1e-6)
    assert dtypes == {"policy": {torch.bfloat16}, "reference": {torch.bfloat16}}


def test_chunked_log_probs_match_full_logits_and_never_score_padding_or_prompts():
    model = tiny_llama("sdpa")
    batch = Collator(0)(examples(KINDS))
    ids, attention, mask = batch["input_ids"], batch["attention_mask"], batch["loss_mask"]
    shapes: list[tuple] = []
    model.lm_head.register_forward_hook(lambda m, a, out: shapes.append(tuple(out.shape)))
    logps, tokens = sequence_logps(model, ids, attention, mask)
    full = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    expected = (full.log_softmax(-1).gather(2, ids[:, 1:, None]).squeeze(-1)
                * mask[:, 1:]).sum(-1)
    torch.testing.assert_close(logps, expected, rtol=1e-5, atol=1e-4)
    assert tokens.tolist() == mask[:, 1:].sum(-1).tolist()
    scored = int(mask[:, 1:].sum())
    assert shapes[0] == (scored, 97)  # only completion positions reach the LM head
    assert scored < ids.numel()


def test_chunks_give_the_same_values_and_gradients_as_one_pass():
    head = torch.nn.Linear(16, 50, bias=False)
    hidden = torch.randn(37, 16, requires_grad=True)
    targets = torch.randint(0, 50, (37,))
    chunked = chunked_token_logps(head, hidden, targets, chunk=8)
    (grad_chunked,) = torch.autograd.grad(chunked.sum(), hidden)
    whole = head(hidden).log_softmax(-1).gather(1, targets[:, None]).squeeze(-1)
    (grad_whole,) = torch.autograd.grad(whole.sum(), hidden)
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(grad_chunked, grad_whole)


def test_nll_only_rows_get_no_rejected_sequence_and_no_reference_pass(tmp_path: Path):
    trainer = build(tmp_path, tiny_llama("sdpa"), KINDS)
    scored: list[int] = []
    trainer.reference.model.register_forward_hook(lambda m, a, kw, out: scored.append(
        kw["input_ids"].shape[0]), with_kwargs=True)
    nll_only = ["out_of_scope", "near_scope", "out_of_scope", "near_scope"]
    batch = Collator(0)(examples(nll_only))
    assert batch["input_ids"].shape[0] == 4 and (batch["rejected_index"] == -1).all()
    trainer.compute_loss(trainer.model, batch)
    assert scored == []
    mixed = Collator(0)(examples(KINDS))
    assert mixed["input_ids"].shape[0] == 6  # 4 chosen + the 2 in-scope rejected
    trainer.compute_loss(trainer.model, mixed)
    assert scored == [4]  # chosen and rejected of the two in-scope rows only
