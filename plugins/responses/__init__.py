"""The ``responses`` generator: sample N responses from a model for each prompt.

The simplest method and a building block of the others: baseline responses, target
responses to critique, candidates for preference pairs. Truncated answers are kept and
marked by ``finish_reason = "length"``; the user decides what to do with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from datagen import hookimpl
from datagen.generator import (
    BatchOutput,
    Failure,
    Generator,
    GeneratorContext,
    GeneratorOptions,
    stable_id,
)
from datagen.llm import Model
from datagen.roles import Role


class ResponsesOptions(GeneratorOptions):
    prompt_column: str = "prompt"
    n: int = Field(1, ge=1, le=1000, description="responses per prompt")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(256, ge=1)
    system_prompt: str | None = None


class ResponsesGenerator(Generator):
    name = "responses"
    description = "sample N responses from a model for each prompt"
    Options = ResponsesOptions
    output_schema = "responses"
    input_columns = ("prompt",)
    roles = (Role("responder", "writes the responses"),)
    batch_size = 64
    task_categories = ("text-generation",)

    options: ResponsesOptions

    def generate(self, batch, ctx: GeneratorContext) -> BatchOutput:
        from datagen.llm import ChatRequest

        column = self.options.prompt_column
        if column not in batch.columns:
            from datagen.errors import InvalidInput

            columns = ", ".join(batch.columns)
            raise InvalidInput(f"input has no column {column!r}; columns: {columns}")
        records = batch.to_dicts()
        jobs = [(record, k) for record in records for k in range(self.options.n)]
        requests = [
            ChatRequest.chat(
                str(record[column]),
                system=self.options.system_prompt,
                max_tokens=self.options.max_tokens,
                temperature=self.options.temperature,
                top_p=self.options.top_p,
                seed=self.options.seed,
                sample_index=k,
                step="respond",
            )
            for record, k in jobs
        ]
        model = ctx.model("responder")
        completions = model.complete(requests)
        output = BatchOutput()
        for (record, k), completion in zip(jobs, completions, strict=True):
            prompt_id = _prompt_id(record, column)
            if not completion.ok:
                output.failures.append(Failure(
                    step="respond", reason=completion.error or "", input_id=prompt_id,
                    raw_output=completion.text, attempts=completion.attempts,
                    detail={"sample_index": k, "model": model.spec},
                ))
                continue
            output.rows.append(self._row(record, column, prompt_id, k, completion, model))
        return output

    def _row(self, record: dict[str, Any], column: str, prompt_id: str, k: int, completion,
             model: Model) -> dict[str, Any]:
        return {
            "id": stable_id("responses", prompt_id, model.identity, k, self.options.seed),
            "prompt_id": prompt_id,
            "prompt": str(record[column]),
            "response": completion.text,
            "model": completion.model or model.spec,
            "sample_index": k,
            "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }


def _prompt_id(record: dict[str, Any], column: str) -> str:
    given = record.get("id")
    return str(given) if given not in (None, "") else stable_id(str(record[column]))


@hookimpl
def datagen_register_generators(register: Callable[[type[Generator]], None]) -> None:
    register(ResponsesGenerator)
