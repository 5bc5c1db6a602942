"""The dataset commands through the real ``datagen`` CLI: import, datasets, show, log,
diff, export and sql (formats, read-only, --write, errors)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datagen.catalog import Catalog
from datagen.cli import cli

CATALOG_COMMANDS = ["import", "datasets", "show", "log", "diff", "export", "sql"]


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


@pytest.fixture
def feedback(tmp_path: Path) -> Path:
    path = tmp_path / "fb.jsonl"
    rows = [
        {"id": "a", "prompt": "p1", "score": 1},
        {"id": "b", "prompt": "p2", "score": 2},
        {"id": "c", "prompt": "p3", "score": 3},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def two_versions(datagen_home, feedback: Path, tmp_path: Path) -> Path:
    run("import", str(feedback), "--name", "fb")
    changed = tmp_path / "fb2.jsonl"
    changed.write_text(
        '{"id": "a", "prompt": "p1", "score": 1}\n'
        '{"id": "b", "prompt": "p2", "score": 5}\n'
        '{"id": "d", "prompt": "p4", "score": 4}\n'
    )
    run("import", str(changed), "--name", "fb")
    return datagen_home


@pytest.mark.parametrize("command", CATALOG_COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


def test_import_prints_version_and_honors_home(datagen_home: Path, feedback: Path) -> None:
    assert "as fb@1" in run("import", str(feedback), "--name", "fb").output
    assert "as fb@2" in run("import", str(feedback), "-n", "fb").output
    assert (datagen_home / "catalog.sqlite").is_file()


def test_import_errors_are_one_line_with_exit_codes(datagen_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n')
    result = run("import", str(bad), "--name", "fb", code=1)
    assert result.stderr.strip() == f"Error: {bad}:2: bad JSON at column 7: Expecting value"
    assert "Traceback" not in result.output
    result = run("import", str(bad), "--name", "../up", code=2)
    assert "invalid dataset name '../up'" in result.stderr
    run("import", str(tmp_path / "missing.csv"), "--name", "fb", code=1)
    assert "No datasets yet" in run("datasets").output


def test_datasets_show_and_log(two_versions: Path) -> None:
    lines = run("datasets").output.splitlines()
    assert lines[0].split() == ["name", "version", "rows", "created_at"]
    assert lines[2].split()[:3] == ["fb", "2", "3"]
    assert json.loads(run("datasets", "--format", "json").output)[0]["version"] == 2
    shown = run("show", "fb@1").output
    assert shown.startswith("fb@1: 3 rows")
    assert "input:     file " in shown and "versions:  1, 2" in shown
    assert "score   BIGINT" in shown and "p3" in shown
    log = run("log", "fb", "--format", "json").output
    assert [row["version"] for row in json.loads(log)] == [1, 2]
    assert "import" in run("log", "fb").output
    run("show", "fb@7", code=1)
    assert "unknown dataset 'nope'" in run("log", "nope", code=1).stderr


def test_diff_command(two_versions: Path) -> None:
    out = run("diff", "fb@1", "fb@2").output
    assert "added:     1  (d)" in out and "removed:   1  (c)" in out
    assert "changed:   1  (b)" in out and "unchanged: 1" in out
    data = json.loads(run("diff", "fb@1", "fb@2", "--json").output)
    assert (data["added"], data["removed"], data["changed"]) == (1, 1, 1)
    run("diff", "fb@1", "fb@3", code=1)


def test_export_round_trip_through_cli(two_versions: Path, tmp_path: Path) -> None:
    for suffix in ("parquet", "jsonl"):
        out = tmp_path / f"export.{suffix}"
        run("export", "fb@1", "--format", suffix, "--output", str(out))
        run("import", str(out), "--name", f"back-{suffix}")
        assert "unchanged: 3" in run("diff", "fb@1", f"back-{suffix}").output
    assert json.loads((tmp_path / "export.jsonl").read_text().splitlines()[0])["id"] == "a"


def test_sql_formats_and_views(two_versions: Path) -> None:
    query = 'SELECT id, score FROM "fb@1" ORDER BY id'
    table = run("sql", query).output.splitlines()
    assert table[0].split() == ["id", "score"] and table[2].split() == ["a", "1"]
    rows = list(csv.DictReader(io.StringIO(run("sql", query, "--format", "csv").output)))
    assert rows == [{"id": "a", "score": "1"}, {"id": "b", "score": "2"}, {"id": "c", "score": "3"}]
    data = json.loads(run("sql", "SELECT sum(score) AS s FROM fb", "--format", "json").output)
    assert data == [{"s": 10}]
    builds = json.loads(run("sql", "SELECT status, dataset FROM builds", "--format", "json").output)
    assert builds == [{"status": "ok", "dataset": "fb"}] * 2
    assert json.loads(
        run("sql", "SELECT count(*) AS n FROM failures", "--format", "json").output
    ) == [{"n": 0}]


def test_step_views(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        for n in (1, 2):
            with cat.writer("crit") as w:
                w.write_rows([{"id": "x"}])
                w.write_step("draft", [{"k": n}])
                w.commit()
        assert cat.sql('SELECT k FROM "crit@1/draft"').to_pylist() == [{"k": 1}]
        assert cat.sql('SELECT k FROM "crit/draft"').to_pylist() == [{"k": 2}]


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM builds",
        "DROP TABLE versions",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO failures (reason) VALUES ('x')",
        "COPY builds TO '/tmp/x.csv'",
        "SELECT 1; DELETE FROM builds",
        "ATTACH ':memory:' AS other",
        "LOAD 'x'",
    ],
)
def test_sql_is_read_only_by_default(two_versions: Path, statement: str) -> None:
    result = run("sql", statement, code=1)
    assert "not allowed: the catalog is read-only" in result.stderr
    assert len(json.loads(run("sql", "SELECT * FROM builds", "--format", "json").output)) == 2


def test_sql_write_flag_allows_changes(two_versions: Path) -> None:
    run("sql", "CREATE TABLE notes AS SELECT 'hello' AS note", "--write")
    assert "hello" in run("sql", "SELECT note FROM notes").output


def test_sql_errors_are_one_line(two_versions: Path) -> None:
    error = run("sql", "SELEC 1", code=1).stderr.strip()
    assert error.startswith("Error: Parser Error: syntax error") and "\n" not in error
    assert "does not exist" in run("sql", "SELECT * FROM nope", code=1).stderr
    assert "empty SQL query" in run("sql", " ", code=1).stderr
