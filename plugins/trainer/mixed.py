"""A weighted sum of DPO and NLL terms over row kinds, on a plain transformers Trainer.

This is the loss C3PO needs (DPO on in-scope rows + weighted NLL on near- and out-of-scope
rows) and, with one DPO term, what a ReverseGen proposer needs. Each batch mixes row kinds;
a term with no rows in a batch adds nothing. The reference log-probabilities come from the
starting model: the LoRA base with adapters disabled, or a frozen copy for full fine-tunes.
"""

from __future__ import annotations

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
    require_stack,
)


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

    settings = speed.choose(job.options, "mixed")
    tokenizer = load_tokenizer(job.model)
    model = load_causal_lm(job.model, settings)
    examples = tokenize_rows(job, tokenizer)
    peft = lora_config(job, "CAUSAL_LM")
    if peft is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft)
    values = common_args(job.options, settings, job.output)
    values.setdefault("learning_rate", 5e-5)  # C3PO's learning rate
    args = TrainingArguments(**values, remove_unused_columns=False)
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=examples,
        data_collator=Collator(tokenizer.pad_token_id),
        terms=job.loss,
    )
    return fit(job, "mixed", trainer, tokenizer, settings)


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
        head = _ids(tokenizer.apply_chat_template(prompt, add_generation_prompt=True))
        full = _ids(tokenizer.apply_chat_template(messages))
    else:
        head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        tail = tokenizer(completion, add_special_tokens=False)["input_ids"]
        full = head + tail + [tokenizer.eos_token_id]
    full = full[:max_length]
    return full, min(len(head), len(full) - 1)


def _ids(value: Any) -> list[int]:
    """``apply_chat_template`` returns a list or, in newer versions, an encoding."""
    if isinstance(value, dict) or hasattr(value, "keys"):
        return list(value["input_ids"])
    return list(value)


class Collator:
    """Pads chosen and rejected sequences; masks mark the completion tokens that count."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: list[Example]) -> dict[str, Any]:
        import torch

        chosen = self._pad([(e.chosen, e.chosen_prompt_len) for e in examples])
        with_rejected = [(e.rejected or [self.pad_id], e.rejected_prompt_len) for e in examples]
        rejected = self._pad(with_rejected)
        has_rejected = torch.tensor([e.rejected is not None for e in examples])
        return {
            "input_ids": chosen[0], "attention_mask": chosen[1], "loss_mask": chosen[2],
            "rejected_input_ids": rejected[0], "rejected_attention_mask": rejected[1],
            "rejected_loss_mask": rejected[2] * has_rejected[:, None],
            "has_rejected": has_rejected, "kinds": [e.kind for e in examples],
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


def sequence_logps(model: Any, ids: Any, attention: Any, loss_mask: Any) -> tuple[Any, Any]:
    """Summed log-probability of the masked (completion) tokens per row, and their count."""
    import torch

    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    targets = ids[:, 1:]
    mask = loss_mask[:, 1:].to(logits.dtype)
    token_logps = torch.gather(logits.log_softmax(-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    return (token_logps * mask).sum(-1), mask.sum(-1)


def stack_padded(first: list[Any], second: list[Any]) -> list[Any]:
    """Concatenate two (ids, attention, loss-mask) batches along rows, right-padding to one width.

    Padding ids with 0 is safe: padded positions have attention and loss masks of 0.
    """
    import torch
    import torch.nn.functional as F

    width = max(first[0].shape[1], second[0].shape[1])
    return [
        torch.cat([F.pad(a, (0, width - a.shape[1])), F.pad(b, (0, width - b.shape[1]))])
        for a, b in zip(first, second, strict=True)
    ]


def combine(terms: list[LossTerm], kinds: list[str], policy: dict, reference: dict | None):
    """The weighted loss and each term's value; ``policy``/``reference`` hold per-row logps."""
    import torch
    import torch.nn.functional as F

    device = policy["chosen"].device
    total = torch.zeros((), device=device)
    parts: dict[str, float] = {}
    for index, term in enumerate(terms):
        rows = torch.tensor([term.rows is None or k == term.rows for k in kinds], device=device)
        if term.objective == "dpo":
            rows = rows & policy["has_rejected"]
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


def _trainer_class() -> type:
    """Built on first use so transformers loads only when a mixed run starts."""
    import torch
    from transformers import Trainer

    class MixedLossTrainer(Trainer):
        def __init__(self, *args: Any, terms: list[LossTerm], **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.terms = terms
            self.needs_reference = any(t.objective == "dpo" for t in terms)
            self.reference = None
            if self.needs_reference and not hasattr(self.model, "disable_adapter"):
                self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)
            self.term_logs: dict[str, list[float]] = defaultdict(list)

        def compute_loss(self, model, inputs, return_outputs=False, **kwargs):
            policy = self._logps(model, inputs)
            reference = None
            if self.needs_reference:
                with torch.no_grad():
                    reference = self._reference_logps(model, inputs)
            loss, parts = combine(self.terms, inputs["kinds"], policy, reference)
            for key, value in parts.items():
                self.term_logs[key].append(value)
            return (loss, {}) if return_outputs else loss

        def _logps(self, model, inputs):
            """One forward over chosen and rejected sequences stacked into one batch."""
            keys = ("input_ids", "attention_mask", "loss_mask")
            chosen = [inputs[k] for k in keys]
            has_rejected = inputs["has_rejected"].to(chosen[0].device)
            if not self.needs_reference:
                logps, tokens = sequence_logps(model, *chosen)
                return {"chosen": logps, "chosen_tokens": tokens, "has_rejected": has_rejected}
            rejected = [inputs[f"rejected_{k}"] for k in keys]
            stacked = stack_padded(chosen, rejected)
            logps, tokens = sequence_logps(model, *stacked)
            rows = chosen[0].shape[0]
            return {"chosen": logps[:rows], "chosen_tokens": tokens[:rows],
                    "rejected": logps[rows:], "has_rejected": has_rejected}

        def _reference_logps(self, model, inputs):
            if self.reference is not None:
                return self._logps(self.reference, inputs)
            with self.accelerator.unwrap_model(model).disable_adapter():
                return self._logps(model, inputs)

        def log(self, logs, *args, **kwargs):
            for key, values in self.term_logs.items():
                logs[key] = sum(values) / len(values)
            self.term_logs.clear()
            super().log(logs, *args, **kwargs)

    return MixedLossTrainer
