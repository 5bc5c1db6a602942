"""Embeddings as an engine capability: the embedded model, a real llama.cpp server, the cache,
and a clear error from a backend that cannot embed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from engine_helpers import embedded_path, free_port, running_llama_server

from datagen.engine import Engine
from datagen.engine.backend import Backend
from datagen.engine.embeddings import cosine
from datagen.errors import BackendError

pytestmark = pytest.mark.embedded

CAT, KITTEN, TAXES = (
    "The cat is sleeping on the warm windowsill.",
    "A kitten naps on a sunny window ledge.",
    "Corporate tax returns are due at the end of the quarter.",
)


def assert_meaningful(vectors: list[list[float]]) -> None:
    cat, kitten, taxes = vectors
    assert len(cat) == len(taxes) > 16
    assert abs(sum(v * v for v in cat) - 1.0) < 1e-6  # unit length
    assert cosine(cat, kitten) > cosine(cat, taxes) + 0.05
    assert cosine(cat, kitten) > cosine(kitten, taxes) + 0.05


def test_the_embedded_model_embeds_and_the_cache_serves_repeats(engine_home: Path):
    with Engine(["embedded"], home=engine_home) as engine:
        model = engine.models[0]
        first = model.embed([CAT, KITTEN, TAXES])
        assert_meaningful(first)
        again = model.embed([TAXES, CAT])
        extra = engine.counters.extra
        assert (extra["embedding_calls"], extra["embedding_cache_hits"]) == (3, 2)
    assert again == [first[2], first[0]]
    with Engine(["embedded"], home=engine_home) as engine:  # a new process would see the same
        assert engine.models[0].embed([KITTEN]) == [first[1]]
        assert engine.counters.extra["embedding_calls"] == 0


class EmbeddingServer:
    """A minimal /v1/embeddings server on 127.0.0.1 whose vectors come from the real embedded
    model (llama.cpp, mean-pooled); it fails its first request with HTTP 500."""

    def __init__(self) -> None:
        from datagen.engine.backends.llama_embed import LlamaEmbedder

        self.embedder = LlamaEmbedder(embedded_path())
        self.requests: list[dict] = []
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, {"data": [{"id": "smollm2-embed", "owned_by": "test"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.requests.append(body)
                if len(outer.requests) == 1:
                    return self._send(500, {"error": "warming up"})
                vectors = outer.embedder.embed(body["input"])
                data = [{"index": i, "embedding": v} for i, v in enumerate(vectors)]
                return self._send(200, {"data": list(reversed(data))})  # any order is allowed

            def _send(self, status: int, payload: dict) -> None:
                blob = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.embedder.close()


def test_an_openai_compatible_server_embeds_with_retries(engine_home: Path):
    server = EmbeddingServer()
    try:
        url = f"http://127.0.0.1:{server.port}/v1"
        with Engine([f"openai:{url}"], home=engine_home) as engine:
            assert_meaningful(engine.models[0].embed([CAT, KITTEN, TAXES]))
    finally:
        server.close()
    assert len(server.requests) == 2  # the 500 was retried once
    assert server.requests[1] == {"model": "smollm2-embed", "input": [CAT, KITTEN, TAXES],
                                  "encoding_format": "float"}


@pytest.fixture(scope="module")
def embedding_server() -> Iterator[str]:
    """llama-cpp-python's own server with embeddings on: it answers per-token vectors."""
    with running_llama_server("--embedding", "true") as (url, _process):
        yield url


def test_per_token_vectors_from_a_real_server_are_refused_not_pooled(
    engine_home: Path, embedding_server: str
):
    engine = Engine([f"openai:{embedding_server}"], home=engine_home)
    with engine, pytest.raises(BackendError, match="one vector per token, not one per text"):
        engine.models[0].embed([CAT])


def test_a_server_without_embeddings_is_one_clear_error(engine_home: Path, llama_server: str):
    engine = Engine([f"openai:{llama_server}"], home=engine_home)
    with engine, pytest.raises(BackendError, match="/embeddings"):
        engine.models[0].embed([CAT])


class ChatOnly(Backend):
    kind = "chatonly"

    def compute_identity(self) -> str:
        return "chat-only"


def test_a_backend_that_cannot_embed_says_so(engine_home: Path):
    engine = Engine(["chatonly:x"], home=engine_home, backend_classes={"chatonly": ChatOnly})
    with engine, pytest.raises(BackendError, match="'chatonly' backend cannot embed texts"):
        engine.models[0].embed([CAT])
