"""The catalog under hostile or careless use: data-derived names in SQL, read-only SQL
enforced by the engine, damaged metadata, failed commits, atomic exports, system tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from datagen.catalog import BuildInfo, Catalog
from datagen.cli import cli
from datagen.errors import CatalogError, UsageError
from datagen.readers import import_table


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


INJECTION = 'x" := 1)) AS h FROM lake.main.versions GROUP BY id; DELETE FROM lake.main.versions; --'


def test_diff_quotes_column_names_that_come_from_data(datagen_home, tmp_path: Path) -> None:
    hostile = ['a"b', INJECTION, "sp ace", "semi;colon"]
    first = [{"id": str(i), **{c: f"v{i}" for c in hostile}} for i in range(3)]
    second = [dict(r) for r in first]
    second[1][INJECTION] = "changed"
    run("import", str(jsonl(tmp_path / "a.jsonl", first)), "--name", "h")
    run("import", str(jsonl(tmp_path / "b.jsonl", second)), "--name", "h")
    result = json.loads(run("diff", "h@1", "h@2", "--json").output)
    assert (result["changed"], result["unchanged"], result["changed_ids"]) == (1, 2, ["1"])
    with Catalog.open() as cat:
        assert [v.version for v in cat.versions("h")] == [1, 2]
        assert cat.read_arrow("h@2").column(INJECTION).to_pylist() == ["v0", "changed", "v2"]


def test_explain_analyze_copy_cannot_touch_the_catalog(datagen_home, tmp_path: Path) -> None:
    run("import", str(jsonl(tmp_path / "a.jsonl", [{"id": "1", "t": "x"}])), "--name", "d")
    target = datagen_home / "catalog.sqlite"
    before = target.read_bytes()
    for query in (
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{target}'",
        f"EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
        "EXPLAIN ANALYZE DELETE FROM versions",
    ):
        assert "read-only" in run("sql", query, code=1).stderr
    assert target.read_bytes() == before and not (tmp_path / "x.csv").exists()
    assert "d " in run("datasets").output


def test_read_only_sql_is_enforced_by_the_engine_not_only_the_filter(
    datagen_home, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("classified-content\n")
    with Catalog.open() as cat:
        import_table(cat, pa.table({"t": ["x"]}), "d", {"kind": "test"})
        cat.sql("SELECT 1")
        con = cat._reader  # the connection user SQL runs on, past the statement filter
        for statement in (
            f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
            f"COPY (SELECT 1) TO '{cat.paths.metadata}'",
            f"SELECT * FROM read_csv('{outside}')",
            "INSERT INTO lake.main.versions SELECT * FROM lake.main.versions",
            "SET enable_external_access = true",
            f"ATTACH '{tmp_path / 'other.db'}' AS other",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(statement)
        assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.db").exists()
        assert [d.name for d in cat.datasets()] == ["d"]
    leak = run("sql", f"SELECT * FROM read_csv('{outside}')", code=1).output
    assert "classified-content" not in leak and "disabled by configuration" in leak


def test_write_mode_guards_the_system_tables(datagen_home, tmp_path: Path) -> None:
    run("import", str(jsonl(tmp_path / "a.jsonl", [{"id": "1", "t": "x"}])), "--name", "d")
    for statement in ("DELETE FROM versions", "UPDATE builds SET status = 'x'",
                      "DROP TABLE steps", "CREATE TABLE ok AS SELECT 1 AS a; DELETE FROM versions"):
        error = run("sql", statement, "--write", code=1).stderr
        assert "system table" in error and "nothing was changed" in error
    run("sql", "BEGIN; DELETE FROM versions; COMMIT", "--write", code=1)
    run("import", str(jsonl(tmp_path / "b.jsonl", [{"id": "2", "t": "y"}])), "--name", "d")
    with Catalog.open() as cat:
        assert [v.version for v in cat.versions("d")] == [1, 2]
        assert "ok" not in {r["name"] for r in cat.sql("SHOW TABLES").to_pylist()}
    run("sql", "CREATE TABLE notes AS SELECT 'hi' AS note", "--write")


@pytest.mark.parametrize("damage", ["delete", "truncate", "overwrite"])
def test_damaged_catalog_is_reported_and_data_is_kept(
    datagen_home, tmp_path: Path, damage: str
) -> None:
    run("import", str(jsonl(tmp_path / "a.jsonl", [{"id": "1", "t": "x"}])), "--name", "d")
    metadata = datagen_home / "catalog.sqlite"
    data_files = sorted((datagen_home / "data" / "versions").rglob("*.parquet"))
    assert data_files
    for extra in datagen_home.glob("catalog.sqlite-*"):
        extra.unlink()
    if damage == "delete":
        metadata.unlink()
    elif damage == "truncate":
        metadata.write_bytes(b"")
    else:
        metadata.write_bytes(b'{"not": "sqlite"}')
    for command in (["datasets"], ["import", str(tmp_path / "a.jsonl"), "--name", "d"]):
        error = run(*command, code=1).stderr
        assert "is damaged" in error and "1 data files" in error, error
        assert len(error.strip().splitlines()) == 1
    assert sorted((datagen_home / "data" / "versions").rglob("*.parquet")) == data_files


def test_a_failed_commit_reports_its_real_cause(datagen_home) -> None:
    wide = pa.table({"id": ["1"], **{f"c{i}": ["x"] for i in range(2000)}})
    with Catalog.open() as cat:
        build = BuildInfo(generator="test")
        with pytest.raises(CatalogError) as error, cat.writer("wide", build=build) as writer:
            writer.write_rows(wide)
            writer.commit()
        message = str(error.value)
        assert "too many columns" in message and "no transaction" not in message
        [failed] = cat.records("builds", status="failed")
        assert "too many columns" in failed["error"]
        assert not (cat.paths.data / "main" / f"v_{build.build_id}").exists()
        assert not (cat.paths.versions / f"v_{build.build_id}").exists()


def test_wide_csv_import_is_refused_before_writing(datagen_home, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(2000)) + "\n" + "x," * 1999 + "x\n")
    error = run("import", str(path), "--name", "w", code=1).stderr
    assert "more than 1997 columns" in error
    with Catalog.open() as cat:
        assert cat.records("builds") == []


def test_export_is_atomic_needs_force_and_stays_out_of_the_home(
    datagen_home, tmp_path: Path
) -> None:
    run("import", str(jsonl(tmp_path / "a.jsonl", [{"id": "1", "t": "x"}])), "--name", "d")
    out = tmp_path / "out.jsonl"
    run("export", "d", "-o", str(out))
    assert json.loads(out.read_text()) == {"id": "1", "t": "x"}
    out.write_text("keep me")
    assert "already exists" in run("export", "d", "-o", str(out), code=2).stderr
    assert out.read_text() == "keep me"
    run("export", "d", "-o", str(out), "--force")
    assert json.loads(out.read_text())["t"] == "x"
    assert list(tmp_path.glob(".out.jsonl.*")) == []
    for inside in (datagen_home / "catalog.sqlite", datagen_home / "data" / "x.parquet"):
        error = run("export", "d", "-o", str(inside), "--force", code=2).stderr
        assert "inside the datagen home" in error
    with Catalog.open() as cat, pytest.raises(UsageError):
        cat.export("d", datagen_home / "catalog.sqlite", "parquet", force=True)
    assert "d " in run("datasets").output


def test_export_failure_leaves_no_partial_file(datagen_home, tmp_path: Path) -> None:
    run("import", str(jsonl(tmp_path / "a.jsonl", [{"id": "1", "t": "x"}])), "--name", "d")
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    error = run("export", "d", "-o", str(blocker / "out.parquet"), code=1).stderr
    assert error.startswith("Error: cannot export to") and len(error.strip().splitlines()) == 1


def test_log_failed_lists_a_dataset_that_only_failed(datagen_home) -> None:
    with Catalog.open() as cat, pytest.raises(RuntimeError), cat.writer(
        "broken", build=BuildInfo(generator="test")
    ) as writer:
        writer.write_rows([{"id": "1"}])
        raise RuntimeError("model server went away")
    output = run("log", "broken", "--failed").output
    assert "failed" in output and "model server went away" in output
    run("log", "broken", code=1)
    assert not list((datagen_home / "data" / "main").glob("v_*"))
