"""A weighted sum of DPO and NLL terms over row kinds, on a plain transformers Trainer.

This is the loss C3PO needs (DPO on in-scope rows + weighted NLL on near- and out-of-scope
rows) and, with one DPO term, what a ReverseGen proposer needs. Each batch mixes row kinds;
a term with no rows in a batch adds nothing.

What keeps the DPO term right (each checked by tests/test_train_mixed.py):
- the reference is the starting model: the LoRA base with adapters disabled, or a frozen
  copy of the policy in the policy's own dtype; both passes run under the same autocast,
  so at step 0 policy and reference agree exactly and the first DPO term is ln 2;
- dropout is off in the policy (as TRL's DPO does), or the two passes would disagree;
- log-probabilities come from the hidden states in chunks of tokens through the LM head,
  recomputed in the backward pass: only completion tokens are scored and no full
  ``[batch, length, vocabulary]`` fp32 logits tensor exists;
- rows that only feed NLL terms have no rejected sequence and get no reference pass.
"""

from __future__ import annotations

import contextlib
import copy
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from datagen.errors import InvalidInput
from datagen.training import ROW_KIND_COLUMN, LossTerm, TrainJob, TrainResult
from datagen_plugins.trainer import speed
from datagen_plugins.trainer.hf import (
    common_args,
    fit,
    load_causal_lm,
    load_tokenizer,
    lora_config,
    model_shape,
    require_stack,
)
from datagen_plugins.trainer.sizing import token_ids

C3PO_LEARNING_RATE = 5e-5
LOGPS_CHUNK = 1024
"""Tokens scored per LM-head call: fp32 logits of 1024 x vocabulary at most at a time."""


@dataclass
class Example:
    chosen: list[int]
    chosen_prompt_len: int
    rejected: list[int] | None
    rejected_prompt_len: int
    kind: str


def run_mixed(job: TrainJob) -> TrainResult:
    require_stack()
    from transformers import TrainingArguments

    tokenizer = load_tokenizer(job.model)
    examples = tokenize_rows(job, tokenizer)
    settings = speed.choose(job.options, "mixed", model_shape(job.model))
    lengths = [len(e.chosen) + len(e.rejected or []) for e in examples]
    plan = speed.plan_steps(lengths, job.options, settings.micro_tokens // 2, packed=False)
    speed.apply_plan(settings, plan, job.options)
    model = policy_model(job, settings)
    values = common_args(job.options, settings, job.output)
    values.setdefault("learning_rate", C3PO_LEARNING_RATE * settings.lr_scale)
    args = TrainingArguments(**values, remove_unused_columns=False)
    trainer = trainer_class()(
        model=model,
        args=args,
        train_dataset=examples,
        data_collator=Collator(tokenizer.pad_token_id),
        terms=job.loss,
        autocast_dtype=autocast_dtype(settings),
    )
    return fit(job, "mixed", trainer, tokenizer, settings)


def policy_model(job: TrainJob, settings: speed.Settings) -> Any:
    """The model to train, LoRA-wrapped when asked, with dropout off."""
    model = load_causal_lm(job.model, settings)
    peft = lora_config(job, "CAUSAL_LM")
    if peft is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft)
    disable_dropout(model)
    return model


def autocast_dtype(settings: speed.Settings) -> Any:
    return speed.torch_dtype(settings.precision) if settings.precision != "fp32" else None


def disable_dropout(model: Any) -> None:
    """Dropout modules to p=0 and attention dropout rates to 0 (they are plain floats)."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "attention_dropout"):
        config.attention_dropout = 0.0


# ----------------------------------------------------------------------------- rows


def tokenize_rows(job: TrainJob, tokenizer: Any) -> list[Example]:
    table = job.table
    kinds = (
        table.column(ROW_KIND_COLUMN).to_pylist()
        if ROW_KIND_COLUMN in table.column_names
        else [""] * table.num_rows
    )
    rejected = (
        table.column("rejected").to_pylist()
        if "rejected" in table.column_names
        else [None] * table.num_rows
    )
    dpo_kinds = {t.rows for t in job.loss if t.objective == "dpo"}
    rows = zip(table.column("prompt").to_pylist(), table.column("chosen").to_pylist(),
               rejected, kinds, strict=True)
    examples = []
    for index, (prompt, chosen, worse, kind) in enumerate(rows):
        if worse is None and (None in dpo_kinds or kind in dpo_kinds):
            raise InvalidInput(f"dataset {job.source.ref}: row {index} ({kind}) has no 'rejected'")
        good, good_len = encode(tokenizer, prompt, chosen, job.options.max_length)
        bad, bad_len = (None, 0) if worse is None else encode(
            tokenizer, prompt, worse, job.options.max_length
        )
        examples.append(Example(good, good_len, bad, bad_len, str(kind or "")))
    return examples


def encode(tokenizer: Any, prompt: Any, completion: Any, max_length: int) -> tuple[list[int], int]:
    """Token ids of prompt + completion and the prompt's length (loss covers the rest)."""
    if isinstance(prompt, list):
        messages = prompt + (completion if isinstance(completion, list)
                             else [{"role": "assistant", "content": completion}])
        head = token_ids(tokenizer.apply_chat_template(prompt, add_generation_prompt=True))
        full = token_ids(tokenizer.apply_chat_template(messages))
    else:
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        tail = tokenizer(completion, add_special_tokens=False)["input_ids"]
        full = head + tail + [tokenizer.eos_token_id]
    full = full[:max_length]
    return full, min(len(head), len(full) - 1)


class Collator:
    """One padded batch of sequences: every row's chosen, then the rejected that exist.

    ``rejected_index[row]`` is the sequence holding that row's rejected completion, or -1
    (NLL-only rows have none: no dummy sequence is padded in for them).
    """

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        import torch

        seqs = [(e.chosen, e.chosen_prompt_len) for e in examples]
        rejected_index = []
        for e in examples:
            rejected_index.append(len(seqs) if e.rejected is not None else -1)
            if e.rejected is not None:
                seqs.append((e.rejected, e.rejected_prompt_len))
        ids, attention, loss = self._pad(seqs)
        return {
            "input_ids": ids, "attention_mask": attention, "loss_mask": loss,
            "rejected_index": torch.tensor(rejected_index),
            "kinds": [e.kind for e in examples],
        }

    def _pad(self, seqs: list[tuple[list[int], int]]) -> tuple[Any, Any, Any]:
        import torch

        width = max(len(ids) for ids, _ in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        loss = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, (tokens, prompt_len) in enumerate(seqs):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            attention[row, : len(tokens)] = 1
            loss[row, prompt_len : len(tokens)] = 1
        return ids, attention, loss


# ----------------------------------------------------------------------------- log-probs


def sequence_logps(model: Any, ids: Any, attention: Any, loss_mask: Any) -> tuple[Any, Any]:
    """Summed log-probability of the masked (completion) tokens per sequence, and their count.

    Runs the decoder once, then scores only the completion positions through the LM head
    in chunks of ``LOGPS_CHUNK`` tokens; each chunk's fp32 logits are recomputed in the
    backward pass instead of being kept.
    """
    import torch

    targets_mask = loss_mask[:, 1:].bool()
    hidden = final_hidden(model, ids, attention)[:, :-1][targets_mask]
    targets = ids[:, 1:][targets_mask]
    head = _causal_lm(model).get_output_embeddings()
    token_logps = chunked_token_logps(head, hidden, targets)
    rows = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(targets_mask)
    per_row = torch.zeros(ids.shape[0], device=ids.device, dtype=token_logps.dtype)
    per_row = per_row.index_add(0, rows[targets_mask], token_logps)
    return per_row, targets_mask.sum(-1).to(per_row.dtype)


def final_hidden(model: Any, ids: Any, attention: Any) -> Any:
    """The decoder's last hidden states (after the final norm), without the LM head."""
    decoder = _causal_lm(model).get_decoder()
    return decoder(input_ids=ids, attention_mask=attention, use_cache=False).last_hidden_state


def _causal_lm(model: Any) -> Any:
    """The ``*ForCausalLM`` inside wrappers (accelerate/DDP ``module``, PEFT)."""
    model = getattr(model, "module", model)
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def chunked_token_logps(head: Any, hidden: Any, targets: Any, chunk: int = LOGPS_CHUNK) -> Any:
    import torch
    from torch.utils.checkpoint import checkpoint

    if hidden.shape[0] == 0:
        return hidden.new_zeros(0, dtype=torch.float32)
    parts = []
    for h, t in zip(hidden.split(chunk), targets.split(chunk), strict=True):
        if torch.is_grad_enabled():
            parts.append(checkpoint(_chunk_logps, head, h, t, use_reentrant=False))
        else:
            parts.append(_chunk_logps(head, h, t))
    return torch.cat(parts)


def _chunk_logps(head: Any, hidden: Any, targets: Any) -> Any:
    logits = head(hidden).float()
    return logits.gather(-1, targets[:, None]).squeeze(-1) - logits.logsumexp(-1)


# ----------------------------------------------------------------------------- loss


def combine(terms: list[LossTerm], kinds: list[str], policy: dict, reference: dict | None):
    """The weighted loss and each term's value; ``policy``/``reference`` hold per-row logps."""
    import torch
    import torch.nn.functional as F

    device = policy["chosen"].device
    total = torch.zeros((), device=device)
    parts: dict[str, float] = {}
    for index, term in enumerate(terms):
        rows = term_rows(term, kinds, policy["has_rejected"])
        if not bool(rows.any()):
            continue
        if term.objective == "nll":
            value = -policy["chosen"][rows].sum() / policy["chosen_tokens"][rows].sum().clamp(min=1)
        else:
            assert reference is not None
            margin = (policy["chosen"] - reference["chosen"]) - (
                policy["rejected"] - reference["rejected"]
            )
            value = -F.logsigmoid(term.params.get("beta", 0.1) * margin[rows]).mean()
        total = total + term.weight * value
        parts[f"loss/{index}_{term.objective}_{term.rows or 'all'}"] = float(value.detach())
    return total, parts


def term_rows(term: LossTerm, kinds: list[str], has_rejected: Any) -> Any:
    """The rows of a batch one term covers (a DPO term needs a rejected completion)."""
    import torch

    device = has_rejected.device
    rows = torch.tensor([term.rows is None or k == term.rows for k in kinds], device=device)
    return rows & has_rejected if term.objective == "dpo" else rows


def row_logps(sequence: tuple[Any, Any], rejected_index: Any) -> dict[str, Any]:
    """Per-sequence log-probs regrouped per row: chosen, its tokens, rejected (0 if none)."""
    logps, tokens = sequence
    rows = rejected_index.shape[0]
    has_rejected = rejected_index >= 0
    rejected = logps.new_zeros(rows)
    rejected[has_rejected] = logps[rejected_index[has_rejected]]
    return {"chosen": logps[:rows], "chosen_tokens": tokens[:rows],
            "rejected": rejected, "has_rejected": has_rejected}


def reference_sequences(terms: list[LossTerm], kinds: list[str], rejected_index: Any) -> Any:
    """Indices of the sequences the DPO terms compare (chosen and rejected of their rows)."""
    import torch

    has_rejected = rejected_index >= 0
    wanted = torch.zeros_like(has_rejected)
    for term in terms:
        if term.objective == "dpo":
            wanted |= term_rows(term, kinds, has_rejected)
    rows = wanted.nonzero().flatten()
    return torch.cat([rows, rejected_index[rows]])


def trainer_class() -> type:
    """Built on first use so transformers loads only when a mixed run starts."""
    import torch
    from transformers import Trainer

    class MixedLossTrainer(Trainer):
        def __init__(self, *args: Any, terms: list[LossTerm], autocast_dtype: Any = None,
                     **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.terms = terms
            self.autocast_dtype = autocast_dtype
            self.needs_reference = any(t.objective == "dpo" for t in terms)
            self.reference: Any = None
            if self.needs_reference and not hasattr(self.model, "disable_adapter"):
                # the policy's dtype and device, frozen; dropout is already off in the policy
                policy: Any = self.model
                self.reference = copy.deepcopy(policy).eval().requires_grad_(False)
            self.term_logs: dict[str, list[float]] = defaultdict(list)

        def autocast(self, device: Any) -> Any:
            if self.autocast_dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            ids = inputs["input_ids"]
            seqs = (ids, inputs["attention_mask"], inputs["loss_mask"])
            index = inputs["rejected_index"].to(ids.device)
            with self.autocast(ids.device):
                policy = row_logps(sequence_logps(model, *seqs), index)
                reference = self._reference(model, seqs, inputs["kinds"], index)
            loss, parts = combine(self.terms, inputs["kinds"], policy, reference)
            for key, value in parts.items():
                self.term_logs[key].append(value)
            return (loss, {}) if return_outputs else loss

        def _reference(self, model, seqs, kinds, index):
            """Reference log-probs for the rows DPO terms use; none when no row needs them."""
            if not self.needs_reference:
                return None
            picked = reference_sequences(self.terms, kinds, index).to(index.device)
            logps = seqs[0].new_zeros(seqs[0].shape[0], dtype=torch.float32)
            if picked.numel():
                with torch.no_grad():
                    scored, _ = self._reference_logps(model, *(s[picked] for s in seqs))
                logps[picked] = scored.float()
            tokens = logps.new_zeros(seqs[0].shape[0])
            return row_logps((logps, tokens), index)

        def _reference_logps(self, model, ids, attention, loss_mask):
            if self.reference is not None:
                return sequence_logps(self.reference, ids, attention, loss_mask)
            with self.accelerator.unwrap_model(model).disable_adapter():
                return sequence_logps(model, ids, attention, loss_mask)

        def log(self, logs, *args, **kwargs):
            for key, values in self.term_logs.items():
                logs[key] = sum(values) / len(values)
            self.term_logs.clear()
            super().log(logs, *args, **kwargs)

    return MixedLossTrainer
