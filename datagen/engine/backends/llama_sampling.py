"""Per-request sampling on top of llama.cpp's sampler chains.

Each request gets its own chain (top-k, top-p, min-p, temperature, then a draw seeded with
the call's seed; greedy at temperature 0), so requests decoded side by side in one batch
keep their own parameters and random streams.

A JSON schema becomes a grammar sampler kept outside the chain. Checking a grammar against
all 49k tokens of the vocabulary costs more than decoding the token (measured: a third of
the time of structured calls), so the chain draws first and the grammar checks only the
drawn token; only when the grammar rejects it is the draw repeated over the whole
vocabulary with the grammar applied first (llama.cpp's own server samples the same way).
Both paths depend on the logits and the seed alone, so answers stay reproducible.

Where the grammar leaves no choice (a key and its colon after a comma, the quote opening a
string value, the closing brace after the last property), sampling is skipped: the grammar
is probed one character at a time, and the forced text is tokenized and decoded with the
next step as a chunk, which costs a fraction of a sampled token (see ``forced``). When the
grammar then allows only the end, the answer ends without another step.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

from datagen.engine.backend import Call
from datagen.engine.backends.llama_model import LoadedModel

# The high-level llama-cpp-python defaults that ChatRequest does not set.
TOP_K = 40
MIN_P = 0.05
LLAMA_RANDOM_SEED = 0xFFFFFFFF  # llama.cpp reads this seed as "pick one at random"
# JSON structure can only be forced right after one of these bytes: a key follows "{" or
# ",", a colon follows the key's closing quote, a value's opening quote follows the colon.
STRUCTURAL = frozenset(b'"{}[],:')
MAX_FORCED_BYTES = 96


class TokenSampler:
    """The sampler chain of one call, plus its grammar when it asks for JSON."""

    def __init__(self, model: LoadedModel, call: Call):
        self.model = model
        self.lib = model.lib
        self.chain = draw_chain(self.lib, call)
        self.grammar: Any = None
        self.probe: CharacterProbe | None = None
        if call.request.json_schema is not None:
            try:
                self._add_grammar(call.request.json_schema)
            except BaseException:
                self.close()
                raise

    def _add_grammar(self, schema: Any) -> None:
        self.grammar = self.lib.llama_sampler_init_grammar(
            self.model.vocab, self.model.grammar(schema).encode(), b"root")
        if not self.grammar:
            raise ValueError("llama.cpp rejected the grammar made from the JSON schema")
        self.probe = CharacterProbe(self.model)

    def sample(self, ctx: Any, index: int) -> int:
        """The next token from the logits at batch position ``index``."""
        token = self.lib.llama_sampler_sample(self.chain, ctx, index)
        if self.grammar is None:
            return token
        if not self._grammar_allows(token):
            token = self._resample_with_grammar(ctx, index)
        self.lib.llama_sampler_accept(self.grammar, token)
        return token

    def forced(self, after: bytes, limit: int) -> tuple[list[int], bool]:
        """The tokens the grammar forces next (at most ``limit``), accepted into it, and
        whether the grammar then allows only the end of the answer.

        ``after`` is what was generated last (``b""`` at the start of an answer).
        """
        if self.probe is None or limit <= 0 or (after and after[-1] not in STRUCTURAL):
            return [], False
        text, ended = self._forced_text(self.probe)
        every = self.model.text_tokens(text) if text else []
        tokens = every[:limit]
        for token in tokens:
            self.lib.llama_sampler_accept(self.grammar, token)
        return tokens, ended and len(tokens) == len(every)

    def complete(self) -> bool:
        """Does the grammar allow nothing but the end (the JSON is closed)?"""
        if self.probe is None:
            return False
        allowed, end_allowed = self.probe.next_characters(self.grammar)
        return end_allowed and not allowed

    def _forced_text(self, probe: CharacterProbe) -> tuple[bytes, bool]:
        """Follow the grammar while it allows exactly one next character; the text, and
        whether only the end is allowed after it."""
        ahead = self.lib.llama_sampler_clone(self.grammar)  # walked on, then dropped
        text = bytearray()
        try:
            while len(text) < MAX_FORCED_BYTES:
                allowed, end_allowed = probe.next_characters(ahead)
                if end_allowed or len(allowed) != 1:
                    return bytes(text), end_allowed and not allowed
                byte, token = allowed[0]
                if byte >= 0x80:  # part of a character: the grammar may allow several
                    return bytes(text), False
                self.lib.llama_sampler_accept(ahead, token)
                text.append(byte)
        finally:
            self.lib.llama_sampler_free(ahead)
        return bytes(text), False

    def _grammar_allows(self, token: int) -> bool:
        lib = self.lib
        one = lib.llama_token_data(id=token, logit=1.0, p=0.0)
        candidates = lib.llama_token_data_array(
            data=ctypes.pointer(one), size=1, selected=-1, sorted=False)
        lib.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        return not math.isinf(one.logit)

    def _resample_with_grammar(self, ctx: Any, index: int) -> int:
        import numpy as np
        from llama_cpp._internals import LlamaTokenDataArray

        n_vocab = self.model.n_vocab
        logits = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(ctx, index),
                                       shape=(n_vocab,))
        candidates = LlamaTokenDataArray(n_vocab=n_vocab)
        candidates.copy_logits(logits)
        candidates.candidates.selected = -1
        pointer = ctypes.byref(candidates.candidates)
        self.lib.llama_sampler_apply(self.grammar, pointer)
        self.lib.llama_sampler_apply(self.chain, pointer)
        return int(candidates.candidates_data.id[candidates.candidates.selected])

    def close(self) -> None:
        for sampler in (self.chain, self.grammar):
            if sampler:
                self.lib.llama_sampler_free(sampler)
        self.chain = self.grammar = None


class CharacterProbe:
    """Which single characters a grammar allows next, and whether it allows the end.

    The candidates are the vocabulary's one-byte tokens for ASCII characters and for the
    first bytes of all others, and the end-of-text token, so a probe costs one small grammar
    check instead of a pass over the whole vocabulary. Only ASCII characters are ever
    forced; a first byte of another character (the grammar accepts a token holding part of
    a character it allows) only tells that the grammar allows more than one character, e.g.
    the "é" of an enum value beside the "b" of another.
    """

    def __init__(self, model: LoadedModel):
        self.lib = model.lib
        self.characters = model.probe_tokens()
        tokens = [token for _, token in self.characters] + [model.end_token]
        self.data = (self.lib.llama_token_data * len(tokens))(
            *(self.lib.llama_token_data(id=token, logit=0.0, p=0.0) for token in tokens))
        self.fresh = bytes(self.data)  # the candidates before a grammar marks any
        self.candidates = self.lib.llama_token_data_array(
            data=self.data, size=len(tokens), selected=-1, sorted=False)

    def next_characters(self, grammar: Any) -> tuple[list[tuple[int, int]], bool]:
        """(byte, token) of each byte ``grammar`` allows next (a byte from 0x80 up stands
        for a character outside ASCII); whether it may end."""
        ctypes.memmove(self.data, self.fresh, len(self.fresh))
        self.lib.llama_sampler_apply(grammar, ctypes.byref(self.candidates))
        allowed = [character for index, character in enumerate(self.characters)
                   if not math.isinf(self.data[index].logit)]
        return allowed, not math.isinf(self.data[len(self.characters)].logit)


def draw_chain(lib: Any, call: Call) -> Any:
    chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
    request = call.request
    if request.temperature <= 0:
        samplers = [lib.llama_sampler_init_greedy()]
    else:
        samplers = [
            lib.llama_sampler_init_top_k(TOP_K if request.top_k is None else request.top_k),
            lib.llama_sampler_init_top_p(request.top_p, 1),
            lib.llama_sampler_init_min_p(MIN_P, 1),
            lib.llama_sampler_init_temp(request.temperature),
            lib.llama_sampler_init_dist(draw_seed(call.seed)),
        ]
    for sampler in samplers:
        lib.llama_sampler_chain_add(chain, sampler)
    return chain


def draw_seed(seed: int) -> int:
    """A request seed as llama.cpp's 32-bit seed, never its "random" value."""
    value = seed & 0xFFFFFFFF
    return value - 1 if value == LLAMA_RANDOM_SEED else value
