"""A real build killed with SIGKILL leaves no version; the rerun makes only the missing calls.

Runs ``datagen build responses`` on the embedded model in a subprocess, exactly as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

PROMPTS = [
    f"Name one thing that is {color}. Answer in five words."
    for color in ("red", "blue", "green", "yellow", "white", "black")
]
REQUESTS = len(PROMPTS) * 2  # n = 2 samples per prompt


def datagen(
    *args: str, wait: bool = True
) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    command = [sys.executable, "-m", "datagen", *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def cached_calls(home: Path) -> int:
    path = home / "cache" / "calls.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return db.execute("SELECT count(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def sql(query: str) -> list[dict]:
    result = datagen("sql", query, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_killed_build_resumes_without_repeating_calls(tmp_path: Path, datagen_home: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(json.dumps({"id": f"q{i}", "prompt": p}) for i, p in enumerate(PROMPTS))
    )
    build_args = ("build", "responses", "--input", str(prompts), "-q", "-o", "max_tokens=48")

    process = datagen(*build_args, wait=False)
    deadline = time.time() + 300
    while cached_calls(datagen_home) < 3 and process.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the build finished before it could be killed; raise the work"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before_kill = cached_calls(datagen_home)
    assert 3 <= done_before_kill < REQUESTS

    # the killed build left no version, and the catalog opens fine
    assert sql("SELECT count(*) AS n FROM versions WHERE dataset = 'responses'") == [{"n": 0}]

    rerun = datagen(*build_args)
    assert rerun.returncode == 0, rerun.stderr
    assert "Wrote responses@1: 12 rows, 0 failures" in rerun.stdout
    counts = json.loads(sql("SELECT counts FROM builds WHERE status = 'ok'")[0]["counts"])
    assert counts["cache_hits"] >= done_before_kill
    assert counts["calls"] + counts["cache_hits"] == REQUESTS
    assert counts["calls"] <= REQUESTS - done_before_kill

    rows = sql('SELECT id, response FROM "responses@1" ORDER BY id')
    assert len({r["id"] for r in rows}) == REQUESTS

    # a third run makes no model call at all and writes identical rows
    again = datagen(*build_args)
    assert again.returncode == 0, again.stderr
    latest = sql("SELECT counts FROM builds WHERE status = 'ok' ORDER BY started_at DESC LIMIT 1")
    assert json.loads(latest[0]["counts"])["calls"] == 0
    assert sql('SELECT id, response FROM "responses@2" ORDER BY id') == rows
    assert sql(
        'SELECT count(*) AS n FROM (SELECT * FROM "responses@1" EXCEPT SELECT * FROM "responses@2")'
    ) == [{"n": 0}]
