"""The documented example method plugin, installed as a third-party package, built for real.

It uses two roles, a batch stage and a whole-dataset stage with embeddings on the embedded
model; a build killed inside the whole-dataset stage resumes without repeating a model call.
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

EXAMPLE = Path(__file__).parents[1] / "docs" / "example-plugin"
TEXTS = [
    "The recipe needs two cups of flour, one egg and a pinch of salt.",
    "Mars has two small moons called Phobos and Deimos.",
    "The striker scored twice in the second half of the final.",
    "Interest rates rose by half a point at the central bank meeting.",
    "Water the tomato plants early in the morning during hot weeks.",
    "The violinist practised the concerto for six hours a day.",
    "A new bridge will connect the two halves of the old town.",
    "Penguins huddle together to survive the Antarctic winter.",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("example") / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True,
    )
    return target


@pytest.fixture
def texts(tmp_path: Path) -> Path:
    path = tmp_path / "texts.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in TEXTS))
    return path


def datagen(site: Path, *args: str, wait: bool = True):
    command = [sys.executable, "-m", "datagen", *args]
    env = {**os.environ, "PYTHONPATH": str(site)}
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def sql(site: Path, query: str) -> list[dict]:
    result = datagen(site, "sql", query, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def cached(home: Path, embeddings: bool) -> int:
    path = home / "cache" / "calls.sqlite"
    if not path.exists():
        return 0
    test = "=" if embeddings else "<>"
    try:
        with sqlite3.connect(path, timeout=1) as db:
            query = f"SELECT count(*) FROM calls WHERE finish_reason {test} 'embedding'"
            return db.execute(query).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def last_counts(site: Path) -> dict:
    rows = sql(site, "SELECT counts FROM builds WHERE status = 'ok' ORDER BY started_at DESC")
    return json.loads(rows[0]["counts"])


def test_the_example_plugin_builds_with_roles_stages_and_embeddings(site: Path, texts: Path):
    listed = datagen(site, "plugins")
    assert "generator:titles" in listed.stdout, listed.stderr
    result = datagen(site, "build", "titles", "--input", str(texts), "-q",
                     "-m", "writer=embedded", "-m", "embedder=embedded")
    assert result.returncode == 0, result.stderr

    titles = sql(site, 'SELECT input_id, title FROM "titles@1/titles"')
    groups = sql(site, 'SELECT input_id, "group" FROM "titles@1/groups"')
    rows = sql(site, 'SELECT label, titles FROM "titles@1"')
    failures = sql(site, "SELECT count(*) AS n FROM failures")[0]["n"]
    assert len(titles) + failures >= len(TEXTS) and len(titles) >= len(TEXTS) - 1
    assert sorted(g["input_id"] for g in groups) == sorted(t["input_id"] for t in titles)
    assert sum(len(r["titles"]) for r in rows) <= len(titles) and rows
    (build,) = sql(site, "SELECT models, counts FROM builds")
    roles = {(m["role"], m["spec"]) for m in json.loads(build["models"])}
    assert roles == {("writer", "embedded"), ("embedder", "embedded")}
    counts = json.loads(build["counts"])
    assert counts["extra"]["embedding_calls"] == len({t["title"] for t in titles})


def test_a_build_killed_in_the_whole_dataset_stage_resumes_without_repeating_calls(
    site: Path, texts: Path, datagen_home: Path
):
    args = ("build", "titles", "--input", str(texts), "-q", "-o", "similarity=0.999")
    process = datagen(site, *args, wait=False)
    deadline = time.time() + 300
    while cached(datagen_home, embeddings=True) == 0 and process.poll() is None:
        assert time.time() < deadline, "the whole-dataset stage never started"
        time.sleep(0.05)
    assert process.poll() is None, "the build finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    chat_before, vectors_before = cached(datagen_home, False), cached(datagen_home, True)
    assert sql(site, "SELECT count(*) AS n FROM versions") == [{"n": 0}]

    rerun = datagen(site, *args)
    assert rerun.returncode == 0, rerun.stderr
    counts = last_counts(site)
    # only vectors the kill interrupted are computed again; the rest come from the cache
    assert counts["extra"]["embedding_cache_hits"] == vectors_before
    assert counts["extra"].get("embedding_calls", 0) == cached(datagen_home, True) - vectors_before
    assert counts["cache_hits"] >= chat_before  # titles (and any finished labels) not redone
    groups = sql(site, 'SELECT count(DISTINCT "group") AS n FROM "titles@1/groups"')[0]["n"]
    assert counts["calls"] <= groups  # at most the labels the kill interrupted

    again = datagen(site, *args)
    assert again.returncode == 0, again.stderr
    assert last_counts(site)["calls"] == 0
    assert sql(site, 'SELECT label FROM "titles@2" ORDER BY id') == sql(
        site, 'SELECT label FROM "titles@1" ORDER BY id'
    )
