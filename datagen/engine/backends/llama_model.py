"""One GGUF model loaded through llama.cpp's low-level API, shared by every decoding context.

It turns chat messages into prompt tokens with the model's own chat template (the same
prompt llama-cpp-python's ``create_chat_completion`` builds), turns tokens back into bytes,
compiles JSON schemas into grammars once per schema, and opens batched contexts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datagen.errors import BackendError, MissingExtra

# llama-cpp-python silences loading by pointing file descriptors 1 and 2 at /dev/null and
# back; two loads at once can restore each other's /dev/null and lose the process's
# output for good. Loads are short (0.1 s), so one at a time costs nothing.
LOAD_LOCK = threading.Lock()

# llama.cpp's CPU flash attention sums a prompt chunk in a different order than a single
# token, so the same prompt read in one chunk or in two (after a reused prefix) would give
# slightly different numbers. Without it, every row is computed the same way whatever the
# batch holds, and a request's answer does not depend on the requests decoded beside it.
FLASH_ATTENTION_OFF = 0


def llama_cpp_module() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingExtra("embedded", "the 'embedded' and 'gguf' backends") from None
    return llama_cpp


class LoadedModel:
    """Weights, vocabulary and chat template of one GGUF file."""

    def __init__(self, path: Path):
        self.lib = llama_cpp_module()
        from llama_cpp._internals import LlamaModel
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp's own log: errors only
        params = self.lib.llama_model_default_params()
        try:
            with LOAD_LOCK:
                self.model = LlamaModel(path_model=str(path), params=params, verbose=False)
        except Exception as exc:
            raise BackendError(f"llama.cpp could not load {path}: {exc}") from exc
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.chat = _chat_formatter(self.model)
        self._pieces: dict[int, bytes] = {}
        self._grammars: dict[str, str] = {}
        self._lock = threading.Lock()

    def prompt_tokens(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        """The chat prompt, ready for the assistant's reply, as tokens."""
        prompt = self.chat(messages=list(messages)).prompt
        return self.model.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens give none)."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self.model.detokenize([token], special=False)
            self._pieces[token] = piece
        return piece

    def is_end(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def grammar(self, schema: Mapping[str, Any]) -> str:
        """GBNF text for a JSON schema, compiled once per distinct schema."""
        key = json.dumps(schema, sort_keys=True, default=str)
        with self._lock:
            text = self._grammars.get(key)
        if text is None:
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            text = json_schema_to_gbnf(json.dumps(schema))
            with self._lock:
                self._grammars[key] = text
        return text

    def new_context(self, *, slots: int, n_ctx_per_slot: int, threads: int,
                    n_batch: int) -> Any:
        """A context holding ``slots`` sequences, each with its own KV stream."""
        from llama_cpp._internals import LlamaContext

        params = self.lib.llama_context_default_params()
        params.n_ctx = slots * n_ctx_per_slot
        params.n_seq_max = slots
        params.n_batch = params.n_ubatch = n_batch
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = False
        params.flash_attn_type = FLASH_ATTENTION_OFF
        params.no_perf = True
        try:
            return LlamaContext(model=self.model, params=params, verbose=False)
        except Exception as exc:
            raise BackendError(f"llama.cpp could not open a context: {exc}") from exc

    def close(self) -> None:
        self.model.close()


def _chat_formatter(model: Any) -> Any:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    metadata = model.metadata()
    template = metadata.get("tokenizer.chat_template")
    if not template:
        raise BackendError(f"{model.path_model} has no chat template in its metadata")
    eos, bos = model.token_eos(), model.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_token=model.token_get_text(bos) if bos != -1 else "",
    )
