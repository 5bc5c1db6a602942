"""The shared catalog on real PostgreSQL and a real S3-compatible server on 127.0.0.1."""
# ruff: noqa: F811  (pytest fixtures are imported, then named as test parameters)

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shared_catalog_fixtures import (  # noqa: F401  (fixtures)
    PG_PASSWORD,
    S3_KEY_ID,
    S3_SECRET,
    SharedCatalog,
    new_shared_catalog,
    postgres_server,
    s3_server,
    shared,
)

from datagen.catalog import BuildInfo, Catalog
from datagen.catalog import writer as writer_module
from datagen.errors import CatalogBusy

SECRETS = (PG_PASSWORD, S3_SECRET)


def run_cli(args: list[str], home: Path, env: dict[str, str], check: bool = True):
    full = {**os.environ, **env, "DATAGEN_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "datagen.cli", *args],
        env=full, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr
    return result


def write_jsonl(path: Path, rows: int, tag: str) -> Path:
    with path.open("w") as handle:
        for index in range(rows):
            handle.write(json.dumps({"id": f"{tag}-{index}", "prompt": f"{tag} q{index}"}) + "\n")
    return path


def test_import_then_query_through_the_shared_catalog(shared: SharedCatalog, tmp_path):
    source = write_jsonl(tmp_path / "rows.jsonl", 250, "a")
    run_cli(["import", str(source), "-n", "prompts"], tmp_path / "home", shared.env)
    run_cli(["import", str(source), "-n", "prompts"], tmp_path / "home", shared.env)

    other_home = tmp_path / "elsewhere"  # a second machine: nothing local in common
    out = run_cli(["sql", "SELECT count(*) AS n FROM \"prompts@2\"", "--format", "json"],
                  other_home, shared.env).stdout  # fmt: skip
    assert json.loads(out) == [{"n": 250}]
    datasets = run_cli(["datasets", "--format", "json"], other_home, shared.env).stdout
    assert [(d["name"], d["version"]) for d in json.loads(datasets)] == [("prompts", 2)]
    log = json.loads(run_cli(["log", "prompts", "--format", "json"], other_home, shared.env).stdout)
    assert sorted(entry["version"] for entry in log) == [1, 2]

    curated = ["curate", "prompts@2", "--where", "prompt LIKE 'a q1%'"]  # a build, no model
    run_cli(curated, tmp_path / "third", shared.env)
    with Catalog.open(tmp_path / "reader") as cat:
        info = cat.resolve("prompts")
        assert info.version == 3 and info.build["generator"] == "curate-where"
        assert info.rows == cat.read_arrow("prompts@3").num_rows == 111  # q1, q10-19, q100-199

    keys = shared.s3.keys(shared.prefix + "/versions/")
    assert len([k for k in keys if k.endswith(".parquet")]) == 3
    assert not list((tmp_path / "home" / "data" / "versions").rglob("*.parquet"))


def _commit(cat: Catalog, name: str, rows: list[dict], recipe: str = "test") -> int:
    with cat.writer(name, build=BuildInfo(recipe=recipe)) as w:
        w.write_rows(rows)
        return w.commit()


def test_a_conflicting_commit_is_retried_with_the_next_version(shared, tmp_path, monkeypatch):
    first = Catalog.open(tmp_path / "one")
    second = Catalog.open(tmp_path / "two")
    real_next = writer_module._next_version
    interleaved: list[int] = []

    def next_version_with_a_rival(cur, name):  # the rival commits between read and commit
        found = real_next(cur, name)
        if not interleaved:
            interleaved.append(0)  # the rival's own commit reads the real next version
            interleaved[0] = _commit(second, name, [{"id": "rival"}])
        return found

    monkeypatch.setattr(writer_module, "_next_version", next_version_with_a_rival)
    assert _commit(first, "ds", [{"id": "mine"}]) == 2
    assert interleaved == [1]
    assert [v.version for v in first.versions("ds")] == [1, 2]
    assert first.read_arrow("ds@2")["id"].to_pylist() == ["mine"]
    first.close()
    second.close()


def test_a_commit_that_keeps_conflicting_fails_clearly(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAGEN_COMMIT_ATTEMPTS", "2")
    first = Catalog.open(tmp_path / "one")
    second = Catalog.open(tmp_path / "two")
    real_next = writer_module._next_version
    busy = []

    def always_a_rival(cur, name):
        found = real_next(cur, name)
        if not busy:  # the rival's own commit goes straight through
            busy.append(True)
            _commit(second, name, [{"id": f"rival{found}"}])
            busy.clear()
        return found

    monkeypatch.setattr(writer_module, "_next_version", always_a_rival)
    with pytest.raises(CatalogBusy, match="other writers kept committing.*2 attempts"):
        _commit(first, "ds", [{"id": "mine"}])
    monkeypatch.setattr(writer_module, "_next_version", real_next)
    assert [v.version for v in second.versions("ds")] == [1, 2]
    assert set(second.read_arrow("ds")["id"].to_pylist()) == {"rival2"}
    first.close()
    second.close()


WRITER = """
import sys, time
from datagen.catalog import BuildInfo, Catalog
tag, count, start, name = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
cat = Catalog.open()
time.sleep(max(0.0, start - time.time()))
for index in range(count):
    rows = [{"id": f"{tag}-{index}-{n}", "writer": tag} for n in range(100 + index)]
    with cat.writer(name, build=BuildInfo(recipe=tag)) as w:
        w.write_rows(rows)
        print(w.commit(), flush=True)
"""


def start_writer(shared, home: Path, tag: str, count: int, start: float, name: str = "shared"):
    env = {**os.environ, **shared.env, "DATAGEN_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, tag, str(count), str(start), name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_two_machines_commit_at_once(shared: SharedCatalog, tmp_path):
    start = time.time() + 8  # both open first, then commit at the same moment
    writers = [start_writer(shared, tmp_path / tag, tag, 4, start) for tag in ("a", "b")]
    outputs = [w.communicate(timeout=300) for w in writers]
    for writer, (_, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
    got = sorted(int(v) for out, _ in outputs for v in out.split())
    assert got == list(range(1, 9))

    with Catalog.open(tmp_path / "reader") as cat:
        versions = cat.versions("shared")
        assert [v.version for v in versions] == list(range(1, 9))
        for info in versions:  # each version is complete: all rows of exactly one commit
            table = cat.read_arrow(info.ref)
            writers_seen = set(table["writer"].to_pylist())
            assert len(writers_seen) == 1 and info.build["recipe"] in writers_seen
            index = int(table["id"][0].as_py().split("-")[1])
            assert table.num_rows == info.rows == 100 + index
        builds = cat.records("builds", dataset="shared")
        assert sorted(b["version"] for b in builds if b["status"] == "ok") == list(range(1, 9))


def test_sql_reads_a_version_while_another_is_written(shared: SharedCatalog, tmp_path):
    source = write_jsonl(tmp_path / "rows.jsonl", 300, "x")
    run_cli(["import", str(source), "-n", "live"], tmp_path / "home", shared.env)
    query = (  # the latest version seen must be one committed in full, never a part of one
        "SELECT (SELECT count(*) FROM live) AS n, (SELECT list(rows ORDER BY version) "
        "FROM versions WHERE dataset = 'live') AS committed, "
        '(SELECT count(*) FROM "live@1") AS first'
    )
    seen: list[int] = []

    def read() -> None:
        out = run_cli(["sql", query, "--format", "json"], tmp_path / "reader", shared.env)
        row = json.loads(out.stdout)[0]
        assert row["n"] in row["committed"] and row["first"] == 300
        seen.append(row["n"])

    read()  # before the writer starts (reading only after it could miss version 1)
    writer = start_writer(shared, tmp_path / "writer", "w", 3, time.time(), "live")
    while True:  # at least once after the writer started, then as long as it runs
        read()
        if writer.poll() is not None:
            break
    assert writer.wait(timeout=300) == 0, writer.stderr.read()
    assert {300} <= set(seen)


def fill_local_catalog(home: Path) -> None:
    """Two versions with steps and failures, a failed build, and every kind of record."""
    with Catalog.open(home, store=None) as cat:
        for version in (1, 2):
            with cat.writer("pairs", build=BuildInfo(recipe="r", options={"v": version})) as w:
                w.write_rows([{"id": f"p{n}", "text": f"v{version} row {n}"} for n in range(50)])
                w.write_step("draft", [{"id": f"p{n}", "draft": "d"} for n in range(7)])
                w.write_failures([{"step": "draft", "input_id": "p9", "reason": "bad json"}])
                w.commit({"calls": version})
        with pytest.raises(RuntimeError), cat.writer("pairs", build=BuildInfo()) as w:
            w.write_rows([{"id": "lost"}])
            raise RuntimeError("the model server went away")
        cat.append_record("models", {"model_id": "m1", "dataset": "pairs", "version": 2})
        cat.append_record("metrics", {"metric_id": "e1", "kind": "eval", "dataset": "pairs"})
        cat.append_record("publications", {"dataset": "pairs", "version": 1, "repo": "o/r"})
        cat.cursor().execute(
            "INSERT INTO reviews (review_id, dataset, version, record_id, decision) "
            "VALUES ('r1', 'pairs', 1, 'p3', 'accept')"
        )
        cat.sql("CREATE TABLE notes AS SELECT 42 AS answer", writable=True)


def table_rows(cat: Catalog, table: str) -> list[tuple]:
    return sorted(cat.cursor().execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)


def test_migrate_copies_every_table(shared: SharedCatalog, tmp_path, monkeypatch):
    home = tmp_path / "laptop"
    for key in ("DATAGEN_CATALOG", "DATAGEN_DATA"):
        monkeypatch.delenv(key)
    fill_local_catalog(home)
    local_env = {k: v for k, v in shared.env.items() if k.startswith("AWS_")}
    out = run_cli(["catalog", "migrate", "--to", shared.catalog, "--data", shared.data], home,
                  {**local_env, "DATAGEN_CATALOG": "", "DATAGEN_DATA": ""}).stdout  # fmt: skip
    assert "copied 1 datasets (2 versions, 3 builds" in out and PG_PASSWORD not in out

    with Catalog.open(home, store=None) as local:
        tables = [
            row[0]
            for row in local.cursor()
            .execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'")
            .fetchall()
        ]
        for key, value in shared.env.items():
            monkeypatch.setenv(key, value)
        with Catalog.open(tmp_path / "server") as remote:
            assert len(tables) == 14  # 9 system tables, 2 versions, 2 step tables, notes
            for table in tables:
                if table != "migrations":
                    assert table_rows(remote, table) == table_rows(local, table), table
            assert remote.read_step("pairs@1", "draft").num_rows == 7
    again = run_cli(["catalog", "migrate", "--to", shared.catalog, "--data", shared.data], home,
                    {**local_env, "DATAGEN_CATALOG": ""}, check=False)  # fmt: skip
    assert again.returncode != 0 and "already holds 3 builds" in again.stderr


def test_credentials_stay_out_of_the_catalog_and_errors(shared: SharedCatalog, tmp_path):
    source = write_jsonl(tmp_path / "rows.jsonl", 20, "c")
    run_cli(["import", str(source), "-n", "secretive"], tmp_path / "home", shared.env)
    dump = shared.postgres.dump(shared.database)
    assert "secretive" in dump  # the dump holds the catalog ...
    for secret in (*SECRETS, S3_KEY_ID):  # ... and none of the credentials
        assert secret not in dump
    shown = run_cli(["sql", "SELECT path FROM duckdb_databases() UNION ALL SELECT "
                     "secret_string FROM duckdb_secrets() UNION ALL SELECT CAST(value AS "
                     "VARCHAR) FROM duckdb_settings()", "--format", "csv"],
                    tmp_path / "home", shared.env).stdout  # fmt: skip
    assert "dbname=" in shown and "password=redacted" in shown
    for secret in SECRETS:  # SQL cannot read them back either
        assert secret not in shown

    wrong = shared.postgres.conninfo(shared.database, password="Wrong-pass-51x")
    wrong_env = {**shared.env, "DATAGEN_CATALOG": "postgres:" + wrong}
    failed = run_cli(["datasets"], tmp_path / "home", wrong_env, check=False)
    assert failed.returncode != 0 and "password authentication failed" in failed.stderr
    assert "Wrong-pass-51x" not in failed.stderr + failed.stdout
    fresh = new_shared_catalog(shared.postgres, shared.s3)  # its data path is not set yet
    no_bucket = {**fresh.env, "DATAGEN_DATA": "s3://no-such-bucket/x"}
    failed = run_cli(
        ["import", str(source), "-n", "other"], tmp_path / "h2", no_bucket, check=False
    )
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert "cannot write to s3://no-such-bucket/x/versions/" in failed.stderr
    for secret in SECRETS:
        assert secret not in failed.stderr + failed.stdout
