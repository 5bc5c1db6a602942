"""Token counts of a job's rows, measured with its tokenizer, to size the optimizer steps.

Counted before the trainer is built (TRL tokenizes inside its constructor, after the
batch size is fixed), with the same chat template; a count may differ from TRL's by a
special token, which moves a step's size by a fraction of a percent.
"""

from __future__ import annotations

from typing import Any

from datagen.training import TrainJob
from datagen_plugins.trainer import speed
from datagen_plugins.trainer.packing import best_fit_rows


def text_lengths(tokenizer: Any, prompts: list[Any], completions: list[Any]) -> list[int]:
    """Tokens of prompt + completion per row; text or ``{role, content}`` message lists."""
    lengths = []
    for prompt, completion in zip(prompts, completions, strict=True):
        if isinstance(completion, list) or isinstance(prompt, list):
            messages = _as_messages(prompt, "user") + _as_messages(completion, "assistant")
            lengths.append(len(token_ids(tokenizer.apply_chat_template(messages))))
        else:
            text = (prompt or "") + completion
            lengths.append(len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1)
    return lengths


def _as_messages(value: Any, role: str) -> list[dict[str, str]]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [{"role": role, "content": value}]


def token_ids(value: Any) -> list[int]:
    """``apply_chat_template`` returns a list or, in newer versions, an encoding."""
    if isinstance(value, dict) or hasattr(value, "keys"):
        return list(value["input_ids"])
    return list(value)


def example_tokens(job: TrainJob, tokenizer: Any, method: str) -> list[int]:
    """Tokens per example (a preference pair counts both sequences), capped as trained."""
    table, cap = job.table, job.options.max_length
    column = table.column
    if "messages" in table.column_names:
        lengths = text_lengths(tokenizer, [None] * table.num_rows, column("messages").to_pylist())
    elif method == "sft":
        lengths = text_lengths(tokenizer, column("prompt").to_pylist(),
                               column("completion").to_pylist())
    else:
        prompts = (column("prompt").to_pylist() if "prompt" in table.column_names
                   else [None] * table.num_rows)
        chosen = text_lengths(tokenizer, prompts, column("chosen").to_pylist())
        rejected = [0 if r is None else n for r, n in zip(
            column("rejected").to_pylist(),
            text_lengths(tokenizer, prompts, [r or "" for r in column("rejected").to_pylist()]),
            strict=True)] if "rejected" in table.column_names else [0] * len(chosen)
        lengths = [min(a, cap) + min(b, cap) for a, b in zip(chosen, rejected, strict=True)]
    return [min(n, cap) for n in lengths] if method == "sft" else lengths


def plan_for(job: TrainJob, tokenizer: Any, method: str, settings: speed.Settings):
    """The step plan for this job (packed rows for packed SFT), applied to ``settings``."""
    lengths = example_tokens(job, tokenizer, method)
    rows = best_fit_rows(lengths, job.options.max_length) if settings.packing else lengths
    micro = settings.micro_tokens if method == "sft" else settings.micro_tokens // 2
    mean = sum(lengths) / max(1, len(lengths))
    plan = speed.plan_steps(rows, job.options, micro, settings.packing, example_tokens=mean)
    speed.apply_plan(settings, plan, job.options)
    return plan
