"""Batch stages on a local Ray cluster (worker processes): the same rows as a local build, and
a worker killed mid-build is restarted with its batch retried."""

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

pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = [pytest.mark.embedded, pytest.mark.slow]

PROMPTS = [f"Name a {thing} in three words." for thing in
           ("fruit", "river", "bird", "tool", "city", "color", "song", "tree")]
BUILD = ("build", "responses", "-q", "-m", "embedded?instances=1&threads=1", "-o", "max_tokens=16",
         "-o", "n=1")


def datagen(home: Path, *args: str, wait: bool = True):
    env = {**os.environ, "DATAGEN_HOME": str(home)}
    command = [sys.executable, "-m", "datagen", *args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def rows(home: Path) -> list[dict]:
    result = datagen(home, "sql", 'SELECT id, response FROM responses ORDER BY id', "--format",
                     "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def cached_calls(home: Path) -> int:
    try:
        with sqlite3.connect(home / "cache" / "calls.sqlite", timeout=1) as db:
            return db.execute("SELECT count(*) FROM calls").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"p{i}", "prompt": p})
                              for i, p in enumerate(PROMPTS)))
    return path


@pytest.fixture
def local_rows(tmp_path: Path, prompts: Path) -> list[dict]:
    home = tmp_path / "local"
    result = datagen(home, *BUILD, "--input", str(prompts), "--overlap", "2")
    assert result.returncode == 0, result.stderr
    return rows(home)


def worker_pids() -> list[int]:
    listing = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in listing.splitlines() if "BatchWorker" in line]


def test_a_ray_build_writes_the_rows_of_a_local_build(tmp_path, prompts, local_rows):
    home = tmp_path / "ray"
    result = datagen(home, *BUILD, "--input", str(prompts), "--executor", "ray",
                     "--overlap", "2")
    assert result.returncode == 0, result.stderr
    assert rows(home) == local_rows and len(local_rows) == len(PROMPTS)
    counts = json.loads(json.loads(datagen(home, "sql", "SELECT counts FROM builds",
                                           "--format", "json").stdout)[0]["counts"])
    assert counts["calls"] == len(PROMPTS)  # the workers' usage reached the build's counters


def test_a_worker_killed_mid_build_is_restarted_and_its_batch_retried(tmp_path):
    prompts = tmp_path / "more.jsonl"
    prompts.write_text("\n".join(json.dumps({"id": f"q{i}", "prompt": f"Count to {i}."})
                                  for i in range(24)))
    home = tmp_path / "ray"
    process = datagen(home, *BUILD, "--input", str(prompts), "--executor", "ray",
                      "--overlap", "2", wait=False)
    deadline = time.time() + 600
    while cached_calls(home) < 1:  # the first of three waves of 8 is done
        assert process.poll() is None and time.time() < deadline, process.stderr.read()
        time.sleep(0.05)
    killed = worker_pids()
    for pid in killed:  # whichever worker holds the batch dies
        os.kill(pid, signal.SIGKILL)
    out, err = process.communicate(timeout=900)
    assert killed and process.returncode == 0, err
    assert len(rows(home)) == 24
    (build,) = json.loads(datagen(home, "sql", "SELECT counts FROM builds", "--format",
                                  "json").stdout)
    counts = json.loads(build["counts"])
    assert counts["failures"] == 0
    assert counts["cache_hits"] >= 1  # calls finished before the kill were not made again
    assert counts["calls"] + counts["cache_hits"] == 24
