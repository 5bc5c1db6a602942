"""Embeddings from an OpenAI-compatible server (``POST {base}/embeddings``).

vLLM serves it for pooling (embedding) models. A server without the endpoint, or one that
answers with per-token vectors instead of one per text, is a one-line error that says so.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from datagen.errors import BackendError

ATTEMPTS = 4


def embed_remote(
    base_url: str, model: str, texts: Sequence[str], headers: Mapping[str, str],
    timeout: float = 120.0,
) -> list[list[float]]:
    """One vector per text, in order; transient errors are retried with backoff."""
    import httpx

    body = {"model": model, "input": list(texts), "encoding_format": "float"}
    problem = ""
    for attempt in range(ATTEMPTS):
        try:
            reply = httpx.post(f"{base_url}/embeddings", json=body, headers=dict(headers),
                               timeout=timeout)
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if reply.status_code < 400:
                return _vectors(base_url, reply, len(texts))
            if reply.status_code not in (429, 500, 502, 503, 504):
                raise BackendError(_refused(base_url, reply))
            problem = f"HTTP {reply.status_code}"
        time.sleep(min(8.0, 0.5 * 2**attempt))
    raise BackendError(f"{base_url}/embeddings failed {ATTEMPTS} times; last: {problem}")


def _vectors(base_url: str, reply: Any, expected: int) -> list[list[float]]:
    try:
        data = sorted(reply.json()["data"], key=lambda d: d["index"])
        vectors = [_pooled(item["embedding"]) for item in data]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise BackendError(f"{base_url}/embeddings answered in an unknown form: {exc}") from None
    if len(vectors) != expected:
        raise BackendError(
            f"{base_url}/embeddings returned {len(vectors)} vectors for {expected} texts"
        )
    return vectors


def _pooled(embedding: Any) -> list[float]:
    """A text's pooled vector. Per-token vectors (what llama-cpp-python's server returns for a
    generative model without a pooling layer) are refused: for SmolLM2 they measured no more
    alike for paraphrases than for unrelated texts, so pooling them would only look right."""
    if embedding and isinstance(embedding[0], list):
        raise ValueError(
            "the server returned one vector per token, not one per text; serve a model with a"
            " pooling layer (vLLM: an embedding model) or use the embedded/gguf: backend"
        )
    return [float(v) for v in embedding]


def _refused(base_url: str, reply: Any) -> str:
    hint = ""
    if reply.status_code in (404, 405, 501):
        hint = " (does the server serve embeddings?)"
    return f"{base_url}/embeddings: HTTP {reply.status_code}{hint}: {reply.text[:200]}"
