"""Any OpenAI-compatible chat completions server: vLLM, llama.cpp, SGLang, hosted APIs.

Requests go out as a steady window of ``concurrency`` calls in flight (a new one starts
as soon as one finishes, rather than batch-and-wait), on a persistent event loop thread
so connections are reused across batches. 429, 5xx, timeouts and dropped connections
are retried with exponential backoff, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datagen.engine.backend import Backend, Call, DoneCallback, RawAnswer
from datagen.errors import BackendError, UsageError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
KEY_VARIABLES = ("DATAGEN_OPENAI_API_KEY", "OPENAI_API_KEY")


class OpenAIBackend(Backend):
    kind = "openai"
    description = "an OpenAI-compatible server (vLLM, llama.cpp, SGLang, hosted APIs)"
    example_spec = "openai:Qwen/Qwen2.5-0.5B-Instruct@http://127.0.0.1:8000/v1?concurrency=64"
    params = {
        "concurrency": "requests in flight at once (default 64; 4 for llama-cpp-python's"
        " server, which answers one at a time)",
        "timeout": "seconds to wait for one answer (default 300)",
        "retries": "retries per call on 429/5xx/timeouts/dropped connections (default 6)",
        "backoff": "first retry delay in seconds, doubled each time (default 0.5)",
        "structured": "json_schema (OpenAI, vLLM) or json_object (llama-cpp-python server);"
        " default: asked from the server",
    }

    def __init__(self, spec, *, home: Path):
        super().__init__(spec, home=home)
        self.model, self.base_url = _split_target(spec)
        self.concurrency = spec.int_param("concurrency", 0)
        self.timeout = spec.float_param("timeout", 300.0)
        self.retries = spec.int_param("retries", 6)
        self.backoff = spec.float_param("backoff", 0.5)
        self.structured = spec.param("structured")
        if self.structured not in (None, "json_schema", "json_object"):
            raise UsageError(f"model spec {spec.text!r}: structured must be json_schema or"
                             f" json_object, not {self.structured!r}")
        self._server_info: dict[str, Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._start_lock = threading.Lock()

    def compute_identity(self) -> str:
        return f"{self._model_id()}@{self.base_url}"

    @property
    def model_name(self) -> str:
        return self._model_id()

    def _model_id(self) -> str:
        if self.model:
            return self.model
        models = self._models()
        if not models:
            raise BackendError(f"{self.base_url}/models lists no model; name one in the spec")
        self.model = models[0]["id"]
        return self.model

    def _models(self) -> list[dict[str, Any]]:
        if self._server_info is None:
            import httpx

            try:
                reply = httpx.get(f"{self.base_url}/models", headers=self._headers(), timeout=30)
                reply.raise_for_status()
                self._server_info = reply.json()
            except (httpx.HTTPError, ValueError) as exc:
                if not self.model:
                    raise BackendError(f"cannot list models at {self.base_url}: {exc}") from exc
                self._server_info = {"data": []}
        return list(self._server_info.get("data") or [])

    def _structured_form(self) -> str:
        """llama-cpp-python's server only takes json_object+schema; everyone else json_schema."""
        if self.structured is None:
            self.structured = "json_object" if self._serves_one_at_a_time() else "json_schema"
        return self.structured

    def _headers(self) -> dict[str, str]:
        key = next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def body(self, call: Call) -> dict[str, Any]:
        request = call.request
        body: dict[str, Any] = {
            "model": self._model_id(),
            "messages": [m.as_dict() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": call.seed,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.json_schema is not None:
            schema = dict(request.json_schema)
            if self._structured_form() == "json_object":
                body["response_format"] = {"type": "json_object", "schema": schema}
            else:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": request.step or "output", "schema": schema},
                }
        return body

    def _serves_one_at_a_time(self) -> bool:
        """llama-cpp-python's server ("owned_by": "me") queues requests on one model."""
        return "me" in {m.get("owned_by") for m in self._models()}

    def answer(self, calls: Sequence[Call], done: DoneCallback) -> None:
        if not self.concurrency:
            # A deep queue there only makes the last requests wait into their timeouts.
            self.concurrency = 4 if self._serves_one_at_a_time() else 64
        bodies = [self.body(call) for call in calls]  # resolves model id and form up front
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(self._answer_all(bodies, done), loop)
        future.result()

    async def _answer_all(self, bodies: list[dict[str, Any]], done: DoneCallback) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(index: int) -> None:
            async with gate:
                answer = await self._post_with_retries(bodies[index])
            done(index, answer)

        await asyncio.gather(*(one(i) for i in range(len(bodies))))

    async def _post_with_retries(self, body: dict[str, Any]) -> RawAnswer:
        import httpx

        started = time.perf_counter()
        problem = ""
        for attempt in range(self.retries + 1):
            delay = self.backoff * (2**attempt) * (0.75 + 0.5 * random.random())
            try:
                reply = await self._client.post(f"{self.base_url}/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if reply.status_code == 200:
                    return _parse_reply(reply, started)
                problem = f"HTTP {reply.status_code}: {reply.text[:300]}"
                if reply.status_code not in RETRY_STATUS:
                    break
                delay = _retry_after(reply.headers.get("retry-after"), delay)
            if attempt < self.retries:
                self.on_retry()
                await asyncio.sleep(min(delay, 120.0))
        return RawAnswer(error=f"{self.base_url}: {problem}", finish_reason="error",
                         seconds=time.perf_counter() - started)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                import httpx

                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, daemon=True,
                                          name=f"datagen-{self.kind}")
                thread.start()
                limits = httpx.Limits(max_connections=self.concurrency,
                                      max_keepalive_connections=self.concurrency)
                timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 30.0))

                async def make_client() -> Any:
                    return httpx.AsyncClient(headers=self._headers(), limits=limits,
                                             timeout=timeout)

                self._client = asyncio.run_coroutine_threadsafe(make_client(), loop).result()
                self._loop, self._thread = loop, thread
        return self._loop

    def close(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = self._client = None


def _split_target(spec) -> tuple[str, str]:
    """``MODEL@URL`` or just ``URL`` (the server is asked for its model)."""
    target = spec.target
    model, sep, url = target.rpartition("@")
    if not sep:
        model, url = "", target
    if "://" not in url and model and "://" in model:
        raise UsageError(f"model spec {spec.text!r}: write openai:MODEL@http://host:port/v1")
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"model spec {spec.text!r}: expected openai:MODEL@http://host:port/v1, got {target!r}"
        )
    return model, url.rstrip("/")


def _parse_reply(reply: Any, started: float) -> RawAnswer:
    try:
        payload = reply.json()
        choice = payload["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return RawAnswer(error=f"malformed reply: {exc}: {reply.text[:200]}",
                         finish_reason="error", seconds=time.perf_counter() - started)
    usage = payload.get("usage") or {}
    return RawAnswer(
        text=(choice.get("message") or {}).get("content") or "",
        finish_reason=choice.get("finish_reason") or "stop",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        seconds=time.perf_counter() - started,
    )


def _retry_after(value: str | None, default: float) -> float:
    """Seconds from a Retry-After header (a number or an HTTP date)."""
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(moment.timestamp() - time.time(), 0.0)
