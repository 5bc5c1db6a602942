"""Embeddings from an OpenAI-compatible server (``POST {base}/embeddings``).

llama.cpp's server answers it when started with ``--embedding``; vLLM serves it for pooling
models. A server without the endpoint is a one-line error that says so.
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
        vectors = [[float(v) for v in item["embedding"]] for item in data]
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"{base_url}/embeddings answered in an unknown form: {exc}") from None
    if len(vectors) != expected or any(not v or isinstance(v[0], list) for v in vectors):
        raise BackendError(
            f"{base_url}/embeddings returned {len(vectors)} pooled vectors for {expected} texts"
        )
    return vectors


def _refused(base_url: str, reply: Any) -> str:
    hint = ""
    if reply.status_code in (404, 405, 501):
        hint = " (does the server serve embeddings? llama.cpp needs --embedding)"
    return f"{base_url}/embeddings: HTTP {reply.status_code}{hint}: {reply.text[:200]}"
