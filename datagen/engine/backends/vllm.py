"""vLLM in-process: the whole list of calls goes to ``LLM.chat`` at once.

vLLM schedules the batch itself (continuous batching), so the engine hands it every call
of a ``complete`` in one go. Structured output uses vLLM's structured-outputs sampling
parameter (``guided_decoding`` on older releases). The engine starts on first use.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datagen.engine.backend import Backend, Call, DoneCallback, RawAnswer
from datagen.engine.cache import weights_digest
from datagen.errors import BackendError, MissingExtra, UsageError

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "config.json", "tokenizer.json")


class VLLMBackend(Backend):
    kind = "vllm"
    description = "vLLM in-process on a Hugging Face model folder or id (batch generation)"
    example_spec = "vllm:/models/SmolLM2-135M-Instruct?max_model_len=4096"
    params = {
        "max_model_len": "context length (default 4096)",
        "gpu_memory_utilization": "fraction of GPU memory (on CPU: of RAM) vLLM may reserve"
        " (default 0.85 on GPU, 0.2 on CPU)",
        "dtype": "weights dtype (default auto)",
        "eager": "1 to skip graph capture (default 1 on CPU)",
    }

    def __init__(self, spec, *, home: Path):
        super().__init__(spec, home=home)
        if not spec.target:
            raise UsageError(f"model spec {spec.text!r}: give a model folder or id: vllm:PATH")
        local = Path(spec.target).expanduser()
        self.folder = local.resolve() if local.exists() else None
        self._llm: Any = None
        self._embedder: Any = None
        self._lock = threading.Lock()
        # vLLM's LLM object is not thread-safe (its engine client shares one ZeroMQ socket:
        # two threads calling it at once abort the process); batches take turns.
        self._in_use = threading.Lock()
        if self.folder is not None:
            self.license = spec.param("license") or _card_license(self.folder) or self.license

    def compute_identity(self) -> str:
        if self.folder is None:
            return self.spec.target
        files = [p for pattern in WEIGHT_PATTERNS for p in self.folder.glob(pattern)]
        if not files:
            raise BackendError(f"{self.folder} holds no model weights")
        return "sha256:" + weights_digest(self.home, files)

    @property
    def model_name(self) -> str:
        return self.folder.name if self.folder is not None else self.spec.target

    def _engine(self) -> Any:
        with self._lock:
            if self._llm is None:
                try:
                    from vllm import LLM
                except ImportError:
                    raise MissingExtra("vllm", "the 'vllm' backend") from None
                self._llm = LLM(
                    model=str(self.folder or self.spec.target),
                    max_model_len=self.spec.int_param("max_model_len", 4096),
                    gpu_memory_utilization=self.spec.float_param(
                        "gpu_memory_utilization", _default_memory_fraction()),
                    dtype=self.spec.param("dtype", "auto"),  # type: ignore[arg-type]
                    enforce_eager=self.spec.param("eager", "1") == "1",
                )
            return self._llm

    def answer(self, calls: Sequence[Call], done: DoneCallback) -> None:
        llm = self._engine()
        conversations = [[m.as_dict() for m in c.request.messages] for c in calls]
        params = [sampling_params(call) for call in calls]
        try:
            with self._in_use:
                started = time.perf_counter()
                outputs = llm.chat(conversations, sampling_params=params, use_tqdm=False)
        except Exception as exc:  # one bad batch must not end the build
            for index in range(len(calls)):
                done(index, RawAnswer(error=f"vLLM failed: {exc}", finish_reason="error"))
            return
        seconds = (time.perf_counter() - started) / max(len(calls), 1)
        for index, output in enumerate(outputs):
            done(index, _answer(output, seconds))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled embeddings from a second, pooling engine over the same weights."""
        engine = self._pooling_engine()
        with self._in_use:
            outputs = engine.embed(list(texts), use_tqdm=False)
        return [list(map(float, output.outputs.embedding)) for output in outputs]

    def _pooling_engine(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from vllm import LLM
                from vllm.config import PoolerConfig

                self._embedder = LLM(
                    model=str(self.folder or self.spec.target),
                    runner="pooling",
                    convert="embed",
                    pooler_config=PoolerConfig(seq_pooling_type="MEAN", use_activation=False),
                    max_model_len=self.spec.int_param("max_model_len", 4096),
                    gpu_memory_utilization=_default_memory_fraction() / 2,
                    enforce_eager=True,
                )
            return self._embedder

    def close(self) -> None:
        """Stop vLLM's engine processes now rather than at interpreter exit."""
        for llm in (self._llm, self._embedder):
            core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
            if core is not None and hasattr(core, "shutdown"):
                with contextlib.suppress(Exception):  # already stopping: nothing to report
                    core.shutdown()
        self._llm = self._embedder = None


def _default_memory_fraction() -> float:
    """vLLM-CPU reads this fraction as RAM to reserve: asking for most of it fails."""
    from vllm.platforms import current_platform

    return 0.2 if current_platform.is_cpu() else 0.85


def sampling_params(call: Call) -> Any:
    """vLLM sampling parameters for one call, with its JSON schema as a constraint."""
    from vllm import SamplingParams

    request = call.request
    kwargs: dict[str, Any] = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k if request.top_k is not None else 0,  # 0: all tokens
        "seed": call.seed,
        "stop": list(request.stop) or None,
    }
    if request.json_schema is not None:
        kwargs.update(_structured(dict(request.json_schema)))
    return SamplingParams(**kwargs)


def _structured(schema: dict[str, Any]) -> dict[str, Any]:
    try:
        from vllm.sampling_params import StructuredOutputsParams

        return {"structured_outputs": StructuredOutputsParams(json=schema)}
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams  # type: ignore[attr-defined]

        return {"guided_decoding": GuidedDecodingParams(json=schema)}


def _answer(output: Any, seconds: float) -> RawAnswer:
    first = output.outputs[0]
    return RawAnswer(
        text=first.text,
        finish_reason=first.finish_reason or "stop",
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=len(first.token_ids or []),
        seconds=seconds,
    )


def _card_license(folder: Path) -> str | None:
    card = folder / "README.md"
    if not card.is_file():
        return None
    for line in card.read_text(errors="replace").splitlines()[:40]:
        if line.startswith("license:"):
            return line.split(":", 1)[1].strip() or None
    return None
