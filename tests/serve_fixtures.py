"""A small catalog shaped like real builds, and a running ``datagen serve`` app.

Rows follow the bundled schemas (critique-sft rows with tagged sentences, units and
messages; critique-pref rows with chosen/rejected conversations); the build writes step
tables and failure rows through the real catalog writer, like ``datagen build`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datagen.catalog import BuildInfo, Catalog

SCRIPT_TEXT = (
    '<script>window.__pwned = 1; alert("x")</script><img src=x onerror="window.__pwned=2">'
)


def critique_row(i: int) -> dict[str, Any]:
    response = f"The answer is {i + 3}. It follows from adding one and two. Then {i} is added."
    tagged = "\n".join(f"{s} [S{n}]" for n, s in enumerate(
        [f"The answer is {i + 3}.", "It follows from adding one and two.", f"Then {i} is added."],
        start=1))
    units = [{"id": f"u{i}-1", "tags": ["S1"], "criterion": "Correctness",
              "description": f"[S1] states {i + 3} without showing the sum.",
              "severity": "Moderate", "suggestion": "Show the sum step by step.",
              "sources": ["agent-0"]}]
    critique = f"Sentence [S1] is unsupported; [S3] repeats the input {i}. Score: {50 + i}."
    query = SCRIPT_TEXT if i == 2 else f"What is 1 + 2 + {i}?"
    return {
        "id": f"row-{i:03d}", "input_id": f"in-{i:03d}", "query": query, "response": response,
        "task_type": "math", "tagged_response": tagged, "score": 50 + i, "critique": critique,
        "units": units, "agents": [0, 1],
        "messages": [{"role": "user", "content": f"Critique this answer: {response}"},
                     {"role": "assistant", "content": critique}],
    }


def pair_row(i: int) -> dict[str, Any]:
    prompt = [{"role": "user", "content": f"Critique answer {i}."}]
    return {
        "id": f"pair-{i:03d}", "input_id": f"in-{i:03d}", "query": f"Question {i}",
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": f"[S1] is wrong: it should be {i + 3}."}],
        "rejected": [{"role": "assistant", "content": "Looks fine to me."}],
        "chosen_agent": 0, "rejected_agent": 1, "severity_gap": 3,
    }


def write_critiques(catalog: Catalog, rows: int = 12, name: str = "critique-sft") -> int:
    build = BuildInfo(generator="multicritique", recipe="critique-sft",
                      models=[{"spec": "embedded", "model": "SmolLM2-135M-Instruct"}],
                      inputs=[{"kind": "file", "path": "seeds.jsonl", "sha256": "ab" * 32}])
    with catalog.writer(name, build=build) as writer:
        writer.write_rows([critique_row(i) for i in range(rows)])
        writer.write_step("critique_units", [
            {"id": f"cu-{i}-{a}", "input_id": f"in-{i:03d}", "agent": a,
             "description": f"agent {a} on input {i}"} for i in range(rows) for a in (0, 1)])
        writer.write_step("meta_labels", [
            {"id": f"ml-{i}", "input_id": f"in-{i:03d}", "label": "L0", "penalty": 0}
            for i in range(rows)])
        writer.write_failures([{"step": "critique_units", "input_id": "in-001",
                                "reason": "invalid JSON after 3 attempts",
                                "raw_output": "{not json", "attempts": 3, "detail": {}}])
        return writer.commit({})


def write_pairs(catalog: Catalog, rows: int = 4) -> int:
    with catalog.writer("critique-pref", build=BuildInfo(generator="multicritique")) as writer:
        writer.write_rows([pair_row(i) for i in range(rows)])
        return writer.commit({})


def populate(home: Path) -> None:
    with Catalog.open(home) as catalog:
        write_critiques(catalog)
        write_pairs(catalog)


@contextmanager
def running_app(home: Path, **options: Any) -> Iterator[Any]:
    """Start the web app on a free port in a thread; yields the ``App``."""
    from datagen_plugins.serve.app import App, make_server

    with Catalog.open(home) as catalog:
        app = App(catalog, port=0, **options)
        server = make_server(app)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def base_url(app: Any) -> str:
    return f"http://127.0.0.1:{app.port}"
