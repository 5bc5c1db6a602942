"""One GGUF model loaded through llama.cpp's low-level API, shared by every decoding context.

It turns chat messages into prompt tokens with the model's own chat template (the same
prompt llama-cpp-python's ``create_chat_completion`` builds), turns tokens back into bytes,
compiles JSON schemas into grammars once per schema, and opens batched contexts.
"""

from __future__ import annotations

import ctypes
import json
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datagen.errors import BackendError, MissingExtra

# the first bytes of the UTF-8 encodings of every character outside ASCII
UTF8_LEADS = range(0xC2, 0xF5)

# llama-cpp-python silences loading by pointing file descriptors 1 and 2 at /dev/null and
# back; two loads at once can restore each other's /dev/null and lose the process's
# output for good. Loads are short (0.1 s), so one at a time costs nothing.
LOAD_LOCK = threading.Lock()

# Flash attention: 1.2-1.6x faster decoding on a CPU (measured in docs/architecture.md), and
# the KV cache keeps V untransposed. Its sums over a prompt chunk run in a different order
# than over single tokens, so how a prompt was split between a reused prefix and new tokens
# can change the last bits of a logit; docs/architecture.md says what that means for answers.
FLASH_ATTENTION_ON = 1


# ggml's log levels (ggml.h): an error, and a line continuing the previous message
LOG_ERROR, LOG_CONTINUED = 4, 5


def llama_cpp_module() -> Any:
    global _LOG
    try:
        import llama_cpp
    except ImportError:
        raise MissingExtra("embedded", "the 'embedded' and 'gguf' backends") from None
    with _LOG_LOCK:  # two handlers installed at once: llama.cpp could call a freed one
        if _LOG is None:
            _LOG = ErrorsOnlyLog(llama_cpp)
    return llama_cpp


class ErrorsOnlyLog:
    """llama.cpp's log on standard error, errors only. llama-cpp-python's own handler reads
    the levels one off (it shows warnings, such as a context longer than the model was
    trained on, and hides errors)."""

    def __init__(self, lib: Any):
        self.showing = False
        # llama.cpp keeps a raw pointer to the callback, so this object must live on
        self.callback = lib.llama_log_callback(self._log)
        lib.llama_log_set(self.callback, ctypes.c_void_p(0))

    def _log(self, level: int, text: bytes, _user_data: Any) -> None:
        if level != LOG_CONTINUED:
            self.showing = level == LOG_ERROR
        if self.showing:
            sys.stderr.write(text.decode("utf-8", errors="replace"))


_LOG: ErrorsOnlyLog | None = None
_LOG_LOCK = threading.Lock()


class LoadedModel:
    """Weights, vocabulary and chat template of one GGUF file."""

    def __init__(self, path: Path):
        self.lib = llama_cpp_module()
        from llama_cpp._internals import LlamaModel

        params = self.lib.llama_model_default_params()
        try:
            with LOAD_LOCK:
                self.model = LlamaModel(path_model=str(path), params=params, verbose=False)
        except Exception as exc:
            raise BackendError(f"llama.cpp could not load {path}: {exc}") from exc
        self.vocab = self.model.vocab
        self.n_vocab = self.model.n_vocab()
        self.chat = _chat_formatter(self.model)
        self.end_token = self.model.token_eos()
        self._pieces: dict[int, bytes] = {}
        self._probe_tokens: list[tuple[int, int]] | None = None
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
            piece = token_piece(self.lib, self.vocab, token)
            self._pieces[token] = piece
        return piece

    def text_tokens(self, text: bytes) -> list[int]:
        """Plain text (no special tokens) as tokens, as the model would have written it."""
        return list(self.model.tokenize(text, add_bos=False, special=False))

    def probe_tokens(self) -> list[tuple[int, int]]:
        """(byte, token), by byte, of a token standing for that one byte alone: for every
        ASCII character and every first byte of a UTF-8 character outside ASCII that the
        vocabulary has such a token for (a byte-level vocabulary has them all). Read from the
        vocabulary once."""
        if self._probe_tokens is None:
            found: dict[int, int] = {}
            for token in range(self.n_vocab):
                piece = self.piece(token)
                if len(piece) == 1 and (piece[0] < 0x80 or piece[0] in UTF8_LEADS):
                    found.setdefault(piece[0], token)
            self._probe_tokens = sorted(found.items())
        return self._probe_tokens

    def is_end(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def grammar(self, schema: Mapping[str, Any]) -> str:
        """GBNF text for a JSON schema, compiled once per distinct schema."""
        key = json.dumps(schema, sort_keys=True, default=str)
        with self._lock:
            text = self._grammars.get(key)
        if text is None:
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            text = one_layout(json_schema_to_gbnf(json.dumps(schema)))
            with self._lock:
                self._grammars[key] = text
        return text

    def new_context(self, *, slots: int, n_ctx_per_slot: int, threads: int,
                    n_batch: int) -> Any:
        """A context holding ``slots`` sequences in one KV cache (a shared prefix is kept once)."""
        from llama_cpp._internals import LlamaContext

        params = self.lib.llama_context_default_params()
        params.n_ctx = slots * n_ctx_per_slot
        params.n_seq_max = slots
        params.n_batch = params.n_ubatch = n_batch
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True  # one cache: sequences share the cells of a common prefix
        params.flash_attn_type = FLASH_ATTENTION_ON
        params.no_perf = True
        try:
            return LlamaContext(model=self.model, params=params, verbose=False)
        except Exception as exc:
            raise BackendError(f"llama.cpp could not open a context: {exc}") from exc

    def close(self) -> None:
        self.model.close()


def token_piece(lib: Any, vocab: Any, token: int) -> bytes:
    """The bytes of one token, special tokens giving none. (llama-cpp-python's
    ``detokenize`` reads into 32 bytes and returns nothing for a longer token, such as a
    newline and 32 spaces of indentation.)"""
    size = 64
    while True:
        buffer = ctypes.create_string_buffer(size)
        length = lib.llama_token_to_piece(vocab, token, buffer, size, 0, False)
        if length >= 0:
            return buffer.raw[:length]
        size = -length  # the size it needs


def one_layout(grammar: str) -> str:
    """The grammar with one whitespace layout, the one Python's ``json.dumps`` writes (a
    space after each colon and comma, none elsewhere): keys, colons and quotes become forced
    text that is not sampled, and the answer reads like the JSON most often seen in text."""
    grammar = grammar.replace('space ":" space', '": "').replace('"," space', '", "')
    return re.sub(r"(?m)^space ::= .*$", 'space ::= ""', grammar)


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
