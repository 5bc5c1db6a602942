"""The prompts of ReverseGen, written for this project."""

from __future__ import annotations

from collections.abc import Sequence


def proposer_prompt(task: str, seeds: Sequence[str]) -> str:
    """A task header and a numbered list of seed instructions; the next number is left open."""
    lines = [f"Task: {task.strip()}", "Here are example instructions for this task:"]
    lines += [f"{i}. {seed.strip()}" for i, seed in enumerate(seeds, 1)]
    lines.append(
        f"Write instruction number {len(seeds) + 1}: a new one of the same kind, different"
        " from the examples. Reply with the instruction only."
    )
    return "\n".join(lines)


def judge_prompt(instruction: str, answer: str, rubric: str) -> str:
    return (
        "You check answers written by an assistant.\n"
        f"Failure description: {rubric.strip()}\n\n"
        f"Instruction:\n{instruction.strip()}\n\nAnswer:\n{answer.strip()}\n\n"
        'Does the answer fit the failure description? Reply in JSON: {"fails": true or false,'
        ' "reason": one short sentence}.'
    )


def solver_prompt(instruction: str) -> str:
    return (
        f"{instruction.strip()}\n\nWork it out, then end with a last line of the form"
        " 'Answer: X' giving the final answer only."
    )
