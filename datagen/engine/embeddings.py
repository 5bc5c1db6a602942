"""Embeddings as an engine capability beside chat: cached, batched, one error if unsupported.

``EngineModel.embed(texts)`` looks every text up in the call cache (keyed by backend kind,
model identity and the text), asks the backend only for the missing ones, stores each
vector the moment it arrives and returns unit-length vectors in input order. A backend
that can embed implements ``Backend.embed(texts) -> list[list[float]]``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from datagen.engine.backend import RawAnswer

if TYPE_CHECKING:
    from datagen.engine.engine import EngineModel

EMBEDDING = "embedding"  # the finish_reason that marks a stored vector in the call cache
BATCH = 64


def embedding_key(kind: str, identity: str, text: str) -> str:
    blob = json.dumps({"embed": text, "kind": kind, "identity": identity}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def embed_cached(model: EngineModel, texts: Sequence[str]) -> list[list[float]]:
    """Vectors for ``texts`` through the cache; only unseen texts reach the backend."""
    backend, engine = model.backend, model.engine
    keys = [embedding_key(backend.kind, model.identity, t) for t in texts]
    found = engine.cache.get_many(keys) if engine.use_cache else {}
    vectors: dict[str, list[float]] = {k: json.loads(a.text) for k, a in found.items()}
    missing = list(dict.fromkeys(k for k in keys if k not in vectors))
    text_of = dict(zip(keys, texts, strict=True))
    for start in range(0, len(missing), BATCH):
        chunk = missing[start : start + BATCH]
        for key, vector in zip(chunk, backend.embed([text_of[k] for k in chunk]), strict=True):
            vectors[key] = normalized(vector)
            engine.cache.put(key, backend.kind, model.identity,
                             RawAnswer(json.dumps(vectors[key]), EMBEDDING))
    engine.count_embeddings(calls=len(missing), hits=len(keys) - len(missing))
    return [vectors[k] for k in keys]


def normalized(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [float(v) / norm for v in vector]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (unit vectors: their dot product)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0
