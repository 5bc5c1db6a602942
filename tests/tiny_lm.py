"""Tiny random-init causal LMs of the SmolLM2 layout (Llama blocks, GQA, tied embeddings).

Small enough that a forward and backward pass take milliseconds on a CPU; the tests that
use them check maths (masks, log-probs, gradients), never quality.
"""

from __future__ import annotations

from typing import Any

TINY_SMOLLM2 = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=97, max_position_embeddings=256,
    rope_theta=100000.0, tie_word_embeddings=True, rms_norm_eps=1e-5,
)


def tiny_llama(attention: str = "sdpa", seed: int = 0, **overrides: Any) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(**{**TINY_SMOLLM2, **overrides}, attn_implementation=attention)
    return LlamaForCausalLM(config).eval()


def token_rows(lengths: list[int], seed: int = 1, vocab: int = 97) -> list[list[int]]:
    import random

    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(n)] for n in lengths]


def word_tokenizer(vocab_size: int = TINY_SMOLLM2["vocab_size"]) -> Any:
    """Whitespace words ``w3``..; ``<pad>``, ``</s>``, ``<unk>`` are ids 0-2."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "</s>", "<unk>"]
    vocab = {name: i for i, name in enumerate(special)}
    vocab |= {f"w{i}": i for i in range(len(special), vocab_size)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")


def words(tokens: list[int]) -> str:
    return " ".join(f"w{t}" for t in tokens)
