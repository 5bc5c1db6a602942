"""Packed SFT rows keep conversations apart; steps are sized by the data, not the device."""

from __future__ import annotations

import pytest

from datagen.training import TrainerOptions
from datagen_plugins.trainer import speed
from datagen_plugins.trainer.packing import IGNORE, best_fit_rows

torch = pytest.importorskip("torch", reason="needs the 'train' extra")
pytest.importorskip("transformers", reason="needs the 'train' extra")

from tiny_lm import tiny_llama, token_rows  # noqa: E402

from datagen_plugins.trainer.packing import IsolatedRowsCollator  # noqa: E402

A_LEN, B_LEN = 9, 6


def packed_batch() -> tuple[dict, list[int], list[int]]:
    """Row 0: A then B then padding; row 1: a longer third conversation alone."""
    a, b, c = token_rows([A_LEN, B_LEN, 17])
    rows = [{"input_ids": a + b, "labels": a + b, "seq_lengths": [A_LEN, B_LEN]},
            {"input_ids": c, "labels": c, "seq_lengths": [17]}]
    return IsolatedRowsCollator(pad_id=0)(rows), a, b


def test_collator_resets_positions_and_hides_each_conversation_start():
    batch, a, b = packed_batch()
    assert "attention_mask" not in batch and batch["use_cache"] is False
    assert batch["position_ids"][0].tolist() == [*range(A_LEN), *range(B_LEN), 0, 1]
    labels = batch["labels"][0].tolist()
    assert labels[0] == IGNORE and labels[A_LEN] == IGNORE  # no "predict B from A" target
    assert labels[1:A_LEN] == a[1:] and labels[A_LEN + 1:A_LEN + B_LEN] == b[1:]
    assert labels[A_LEN + B_LEN:] == [IGNORE, IGNORE]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_conversation_packed_after_another_gives_its_own_logits(attention: str):
    model = tiny_llama(attention)
    batch, _, b = packed_batch()
    with torch.no_grad():
        packed = model(**batch).logits
        alone = model(input_ids=torch.tensor([b])).logits
    b_slice = slice(A_LEN, A_LEN + B_LEN)
    torch.testing.assert_close(packed[0, b_slice], alone[0], rtol=1e-5, atol=1e-5)


def test_a_loss_on_one_conversation_gives_no_gradient_to_the_other():
    model = tiny_llama("sdpa")
    batch, _, _ = packed_batch()
    embeds = model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_()
    logits = model(inputs_embeds=embeds, position_ids=batch["position_ids"],
                   use_cache=False).logits
    logits[0, A_LEN:A_LEN + B_LEN].logsumexp(-1).sum().backward()
    assert torch.count_nonzero(embeds.grad[0, :A_LEN]) == 0
    assert torch.count_nonzero(embeds.grad[0, A_LEN:A_LEN + B_LEN]) > 0
    assert torch.count_nonzero(embeds.grad[1]) == 0


def test_wrapped_packing_without_resets_would_mix_conversations():
    """The check above can fail: TRL's "wrapped" rows (all-ones mask) change B's logits."""
    model = tiny_llama("sdpa")
    batch, _, b = packed_batch()
    with torch.no_grad():
        wrapped = model(input_ids=batch["input_ids"][:1, :A_LEN + B_LEN]).logits
        alone = model(input_ids=torch.tensor([b])).logits
    assert not torch.allclose(wrapped[0, A_LEN:], alone[0], atol=1e-3)


def test_best_fit_packing_fills_rows_and_truncates_overlong_sequences():
    assert sorted(best_fit_rows([5, 3, 4, 2, 9, 1], 10)) == [5, 9, 10]
    assert best_fit_rows([25, 4], 10) == [10, 4]


def options(**values) -> TrainerOptions:
    return TrainerOptions(**{"max_length": 1024, **values})


def test_an_epoch_has_the_same_steps_on_a_cpu_and_a_gpu():
    rows = [470] * 500  # a small dataset: ~235k tokens
    cpu = speed.plan_steps(rows, options(), speed.CPU_MICRO_TOKENS, packed=False)
    gpu = speed.plan_steps(rows, options(), speed.GPU_MICRO_TOKENS, packed=False)
    assert cpu.steps_per_epoch == gpu.steps_per_epoch >= speed.MIN_STEPS_PER_EPOCH
    assert cpu.rows_per_step == gpu.rows_per_step
    assert (gpu.grad_accum, cpu.grad_accum) == (1, 1)
    assert "50 steps an epoch" in gpu.describe()


def test_large_datasets_step_on_about_64k_tokens_split_into_micro_batches():
    rows = [1000] * 20000
    plan = speed.plan_steps(rows, options(), speed.CPU_MICRO_TOKENS, packed=True)
    assert 60_000 <= plan.tokens_per_step <= 70_000
    assert plan.micro_rows == 8 and plan.grad_accum * plan.micro_rows == plan.rows_per_step
    assert plan.steps_per_epoch == -(-20000 // plan.rows_per_step)


def test_batch_size_and_accumulation_options_win():
    plan = speed.plan_steps([100] * 64, options(batch_size=4, grad_accum=2), 8192, False)
    assert (plan.micro_rows, plan.grad_accum, plan.steps_per_epoch) == (4, 2, 8)


def test_a_broken_flash_attn_falls_back_to_sdpa(monkeypatch):
    import importlib

    def broken(name, *args, **kwargs):
        if name == "flash_attn":
            raise ImportError("flash_attn_2_cuda.so: undefined symbol: _ZN3c10")
        return real(name, *args, **kwargs)

    real = importlib.import_module
    monkeypatch.setattr(speed, "has_module", lambda name: True)
    monkeypatch.setattr(speed.importlib, "import_module", broken)
    kernel, reason = speed.varlen_attention()
    assert kernel is None and "undefined symbol" in reason and "ImportError" in reason


def test_sft_packs_by_default_and_other_methods_do_not():
    assert speed.choose(options(), "sft").packing is True
    assert speed.choose(options(packing=False), "sft").packing is False
    assert speed.choose(options(), "dpo").packing is False


def test_a_7b_lora_r64_fits_one_80gb_card_and_a_small_card_needs_checkpointing():
    shape = {"params": 6_740_000_000, "layers": 32, "hidden": 4096, "vocab": 32000}
    card = 80 * 2**30
    lora_tokens, lora_checkpointing = speed.micro_tokens_for_memory(
        card, shape, options(lora=True, lora_r=64), "bf16")
    assert lora_tokens >= 2 * 1024
    small = {"params": 135_000_000, "layers": 30, "hidden": 576, "vocab": 49152}
    tokens, checkpointing = speed.micro_tokens_for_memory(card, small, options(), "fp32")
    assert 32_768 <= tokens <= speed.GPU_MICRO_TOKENS and not checkpointing
    _, tight = speed.micro_tokens_for_memory(16 * 2**30, shape, options(lora=True), "bf16")
    assert tight and not lora_checkpointing


def test_the_learning_rate_follows_the_square_root_of_the_step_size():
    small = speed.plan_steps([470] * 500, options(), speed.GPU_MICRO_TOKENS, packed=False)
    assert small.lr_scale == pytest.approx((small.tokens_per_step / (8 * 470)) ** 0.5)
    packed = speed.plan_steps([1000] * 2000, options(), speed.GPU_MICRO_TOKENS, packed=True,
                              example_tokens=500)
    assert packed.lr_scale == pytest.approx((packed.tokens_per_step / 4000) ** 0.5)
    assert 1 < small.lr_scale < packed.lr_scale <= 4
    settings = speed.choose(options(learning_rate=1e-4), "sft")
    assert speed.apply_plan(settings, packed, options(learning_rate=1e-4)).lr_scale == 1.0
    assert "learning rate x" not in settings.notes[-1]  # the user's rate is used as given
    settings = speed.choose(options(), "sft")
    assert speed.apply_plan(settings, packed, options()).lr_scale == packed.lr_scale
    assert f"learning rate x{packed.lr_scale:.2f}" in settings.notes[-1]


def test_progress_counts_real_tokens_of_packed_rows_and_their_padding():
    from datagen_plugins.trainer.progress import TokenCounter

    a, b, c = token_rows([A_LEN, B_LEN, 17])
    batch = IsolatedRowsCollator(pad_id=0, count_tokens=True)([
        {"input_ids": a + b, "seq_lengths": [A_LEN, B_LEN]},
        {"input_ids": c, "seq_lengths": [17]}])
    counter = TokenCounter()
    counter.add(batch)
    assert "real_tokens" not in batch  # the model never sees the count
    assert (counter.tokens, counter.slots) == (A_LEN + B_LEN + 17, 2 * 17)
    assert counter.real_share == pytest.approx(32 / 34)
