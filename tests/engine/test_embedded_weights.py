"""The embedded model's Q4_1 weights run as a Q8_0 copy: made once, named in the identity,
nothing half-written, and the same model within rounding."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import NamedTuple

import pytest
from engine_helpers import embedded_path

from datagen.engine import Engine
from datagen.engine.backends.llama_weights import (
    FTYPE_Q4_1,
    FTYPE_Q8_0,
    ensure_converted,
    gguf_file_type,
)
from datagen.errors import BackendError
from datagen.llm import ChatRequest

pytestmark = pytest.mark.embedded

PROSE = (
    "The harbour was quiet in the early morning. Fishing boats came back one by one, and the "
    "people on the quay sorted the catch into boxes of ice. By noon the market was full of "
    "buyers from the town, and the price of cod rose as the boxes ran out. "
    "In the afternoon the wind turned to the west and the sky filled with low grey cloud. "
    "The older fishermen mended their nets in the shelter of the sheds, talking about the "
    "weather and about the new rules for the size of the mesh. A boy carried coffee from the "
    "cafe at the end of the pier, and a dog slept in the doorway of the ice house. "
    "When the school closed, children ran down to the water to watch the ferry leave for the "
    "islands. It carried cars, a few cows in a trailer, and tourists who stood at the rail "
    "with their cameras. The captain sounded the horn twice as the ferry passed the "
    "lighthouse, and the gulls rose from the rocks and followed it out to sea. "
    "In the evening the lamps came on along the street, and the smell of frying fish drifted "
    "out of the kitchens. The harbour master wrote the day's arrivals in his book: eleven "
    "boats, four tonnes of cod, two of haddock, and a small catch of crab. Then he locked the "
    "office, walked home along the sea wall, and listened to the tide coming in over the "
    "stones. Tomorrow, the radio said, would bring rain in the morning and sun by noon."
)


def test_the_file_type_comes_from_the_gguf_header(tmp_path):
    assert gguf_file_type(embedded_path()) == FTYPE_Q4_1
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(BackendError, match="not a GGUF file"):
        gguf_file_type(not_gguf)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(embedded_path().read_bytes()[:64])  # the header ends in its first keys
    with pytest.raises(BackendError, match="cut.gguf"):
        gguf_file_type(cut)


def test_the_q8_0_copy_is_made_once_and_named_in_the_identity(engine_home, monkeypatch):
    monkeypatch.delenv("DATAGEN_WEIGHTS")  # the default place, inside the home
    request = ChatRequest.chat("Name a colour.", max_tokens=6, temperature=0.0)
    with Engine(["embedded"], home=engine_home) as engine:
        model = engine.models[0]
        assert model.identity.endswith("+q8_0")
        assert model.complete([request])[0].text
    copies = list((engine_home / "weights").iterdir())
    assert len(copies) == 1 and gguf_file_type(copies[0]) == FTYPE_Q8_0
    made = copies[0].stat().st_mtime_ns
    with Engine(["embedded?convert=none", f"gguf:{embedded_path()}"], home=engine_home) as engine:
        as_is, same_file = engine.models
        assert "+" not in as_is.identity and as_is.identity != same_file.identity
        assert same_file.identity == model.identity  # the rule follows the file, not the spec
        assert same_file.complete([replace(request, seed=1)])[0].text
    assert list((engine_home / "weights").iterdir()) == copies
    assert copies[0].stat().st_mtime_ns == made  # reused, not converted again


def test_a_failed_conversion_leaves_no_file(tmp_path, monkeypatch):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", lambda *args: 1)
    target = tmp_path / "weights" / "model.q8_0.gguf"
    with pytest.raises(BackendError, match="could not convert"):
        ensure_converted(embedded_path(), target, threads=1)
    assert list(target.parent.iterdir()) == []


def test_the_copy_predicts_text_as_the_original_does(tmp_path):
    """Perplexity on about 300 tokens of plain prose within 3% (measured here: 1.9%; on
    2,000 tokens: 56.81 vs 56.95, 0.25%), and the same likeliest next token almost
    everywhere."""
    copy = ensure_converted(embedded_path(), tmp_path / "model.q8_0.gguf", threads=1)
    original, converted = (next_token_scores(path) for path in (embedded_path(), copy))
    assert abs(original.nll - converted.nll) < math.log(1.03)  # perplexity within 3%
    same = sum(a == b for a, b in zip(original.best, converted.best, strict=True))
    assert same >= 0.85 * len(original.best)


class Scores(NamedTuple):
    nll: float  # mean negative log-likelihood of the next token
    best: list[int]  # the most likely next token at each position


def next_token_scores(path) -> Scores:
    import numpy as np
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=512, n_threads=1, logits_all=True, verbose=False)
    tokens = llm.tokenize(PROSE.encode())
    llm.eval(tokens)
    logits = np.asarray(llm.scores[: len(tokens) - 1], dtype=np.float64)
    llm.close()
    top = logits.max(axis=1, keepdims=True)
    log_total = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    nll = float(np.mean(log_total - logits[np.arange(len(tokens) - 1), tokens[1:]]))
    assert math.isfinite(nll)
    return Scores(nll, logits.argmax(axis=1).tolist())
