"""The OpenAI-compatible backend against a misbehaving server, and a SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from engine_helpers import FakeOpenAIServer, echo_text

from datagen.engine import Engine
from datagen.llm import ChatRequest

FAST = "?backoff=0.01&timeout=1"


def ask(home, url, n=1, spec_params=FAST, **params):
    with Engine([f"openai:fake-model@{url}{spec_params}"], home=home) as engine:
        answers = engine.models[0].complete(
            [ChatRequest.chat(f"q{i}", max_tokens=8, seed=i, **params) for i in range(n)])
        return answers, engine.counters


def expected(i: int) -> str:
    return echo_text([{"role": "user", "content": f"q{i}"}], i)


def test_answers_in_order_with_usage(engine_home, fake_server):
    answers, counters = ask(engine_home, fake_server.url, n=5)
    assert [a.text for a in answers] == [expected(i) for i in range(5)]
    assert counters.calls == 5 and counters.completion_tokens == 35
    assert answers[0].model == "fake-model"


def test_500s_are_retried(engine_home, fake_server):
    fake_server.plan = ["500", "500"]
    [answer], counters = ask(engine_home, fake_server.url)
    assert answer.ok and answer.text == expected(0)
    assert counters.extra["transport_retries"] == 2 and len(fake_server.received) == 3


def test_429_waits_for_retry_after(engine_home, fake_server):
    fake_server.plan = ["429:1"]
    [answer], _ = ask(engine_home, fake_server.url)
    assert answer.ok
    (first, _), (second, _) = fake_server.received
    assert second - first >= 0.9


def test_hung_request_times_out_and_is_retried(engine_home, fake_server):
    fake_server.plan = ["hang"]
    [answer], counters = ask(engine_home, fake_server.url, spec_params="?backoff=0.01&timeout=0.5")
    assert answer.ok and answer.text == expected(0)
    assert counters.extra["transport_retries"] == 1


def test_connection_closed_mid_response_is_retried(engine_home, fake_server):
    fake_server.plan = ["drop", "drop"]
    [answer], counters = ask(engine_home, fake_server.url)
    assert answer.ok and counters.extra["transport_retries"] == 2


def test_persistent_failure_is_reported_not_raised_and_not_cached(engine_home, fake_server):
    fake_server.plan = ["500"] * 3
    answers, counters = ask(engine_home, fake_server.url, n=2,
                            spec_params="?backoff=0.01&retries=2&concurrency=1")
    assert not answers[0].ok and "HTTP 500" in answers[0].error
    assert answers[1].ok and counters.failures == 1
    answers, counters = ask(engine_home, fake_server.url, n=2)
    assert all(a.ok for a in answers) and counters.calls == 1 and counters.cache_hits == 1


def test_server_model_and_structured_form_are_discovered(engine_home):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    # owned_by "me" is how llama-cpp-python's server answers
    with FakeOpenAIServer(owned_by="me") as server, Engine(
        [f"openai:{server.url}"], home=engine_home
    ) as engine:
        engine.models[0].complete([ChatRequest.chat("x", json_schema=schema)])
        assert engine.models[0].identity == f"fake-model@{server.url}"
    assert server.received[0][1]["response_format"] == {"type": "json_object", "schema": schema}
    with FakeOpenAIServer() as server, Engine([f"openai:{server.url}"], home=engine_home) as engine:
        engine.models[0].complete([ChatRequest.chat("x", json_schema=schema, step="s")])
    assert server.received[0][1]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "s", "schema": schema}}


def test_api_key_comes_from_the_environment(engine_home, fake_server, monkeypatch):
    monkeypatch.setenv("DATAGEN_OPENAI_API_KEY", "sk-test")
    seen = {}
    handler = fake_server.server.RequestHandlerClass
    original = handler.do_POST

    def spy(self):
        seen["auth"] = self.headers.get("Authorization")
        return original(self)

    monkeypatch.setattr(handler, "do_POST", spy)
    ask(engine_home, fake_server.url)
    assert seen["auth"] == "Bearer sk-test"


RUNNER = """
import json, sys
from pathlib import Path
from datagen.engine import Engine
from datagen.llm import ChatRequest
home, url, out = sys.argv[1:4]
with Engine([f"openai:fake-model@{url}?concurrency=2"], home=Path(home)) as engine:
    answers = engine.models[0].complete(
        [ChatRequest.chat(f"q{i}", max_tokens=8, seed=i) for i in range(20)])
Path(out).write_text(json.dumps([a.text for a in answers]))
"""


def run_build(home: Path, url: str, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUNNER, str(home), url, str(out)],
                            env={**os.environ, "DATAGEN_HOME": str(home)})


def cached_calls(home: Path) -> int:
    with sqlite3.connect(home / "cache" / "calls.sqlite") as db:
        return db.execute("SELECT count(*) FROM calls").fetchone()[0]


def test_sigkill_then_rerun_reissues_only_missing_calls(tmp_path):
    home, out = tmp_path / "home", tmp_path / "out.json"
    with FakeOpenAIServer(delay=0.15) as server:
        process = run_build(home, server.url, out)
        deadline = time.monotonic() + 60
        while server.answered < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not out.exists()
        done_before = cached_calls(home)
        assert 0 < done_before < 20
        sent_before = len(server.received)
        assert run_build(home, server.url, out).wait(timeout=120) == 0
        assert len(server.received) - sent_before == 20 - done_before
    assert cached_calls(home) == 20
    assert json.loads(out.read_text()) == [expected(i) for i in range(20)]


def test_window_defaults_to_64_and_to_1_for_llama_cpp_python(engine_home):
    for owner, window in (("vllm", 64), ("me", 1)):
        with FakeOpenAIServer(owned_by=owner) as server, Engine(
            [f"openai:fake-model@{server.url}"], home=engine_home
        ) as engine:
            engine.models[0].complete([ChatRequest.chat("x")])
            assert engine.models[0].backend.concurrency == window
