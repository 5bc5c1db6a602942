"""``datagen curate``: every operation writes a new version whose build names the parent
version and the operation; checked through the real CLI and the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from serve_fixtures import write_critiques

from datagen.catalog import Catalog
from datagen.cli import cli


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def sql(query: str) -> list[dict]:
    return json.loads(run("sql", query, "--format", "json").output)


@pytest.fixture
def critiques(datagen_home: Path) -> Path:
    with Catalog.open(datagen_home) as catalog:
        write_critiques(catalog, rows=20)
    return datagen_home


def lineage(ref: str) -> dict:
    with Catalog.open() as catalog:
        return catalog.resolve(ref).build


def test_where_keeps_matching_rows_with_lineage(critiques: Path) -> None:
    out = run("curate", "critique-sft@1", "--where", "score >= 60").output
    assert "Wrote critique-sft@2: 10 of 20 rows (where of critique-sft@1)" in out
    rows = sql('SELECT min(score) AS low, count(*) AS n FROM "critique-sft@2"')
    assert rows == [{"low": 60, "n": 10}]
    build = lineage("critique-sft@2")
    assert build["inputs"] == [{"kind": "dataset", "name": "critique-sft", "version": 1,
                                "operation": "where"}]
    assert build["options"] == {"operation": "where", "predicate": "score >= 60"}
    assert build["generator"] == "curate-where" and build["status"] == "ok"
    assert build["command"] == "datagen curate critique-sft@1 --where 'score >= 60'"


def test_where_cannot_write(critiques: Path) -> None:
    out = run("curate", "critique-sft", "--where", "true); DROP TABLE builds; --", code=1)
    assert "not allowed" in out.output
    assert sql("SELECT count(*) AS n FROM builds") == [{"n": 1}]


def test_dedupe_exact_on_a_column_and_on_whole_rows(critiques: Path) -> None:
    run("curate", "critique-sft", "--dedupe", "exact", "--column", "task_type")
    assert sql('SELECT id FROM "critique-sft@2"') == [{"id": "row-000"}]
    run("curate", "critique-sft@1", "--dedupe", "exact")  # all rows differ
    assert sql('SELECT count(*) AS n FROM "critique-sft@3"') == [{"n": 20}]
    assert lineage("critique-sft@2")["options"]["mode"] == "exact"


def test_dedupe_near_drops_reworded_copies(datagen_home: Path) -> None:
    base = ("The answer adds the two numbers correctly but never explains why the carry "
            "moves into the tens column, which is the step a learner needs most.")
    rows = [
        {"id": "a", "text": base},
        {"id": "b", "text": base.replace("learner", "student")},  # one word changed
        {"id": "c", "text": "A completely different critique about units of measure and "
                            "how the response confuses metres with feet in the last line."},
        {"id": "d", "text": base + " "},
    ]
    with Catalog.open(datagen_home) as catalog, catalog.writer("notes") as writer:
        writer.write_rows(rows)
        writer.commit()
    out = run("curate", "notes", "--dedupe", "near", "--column", "text",
              "--threshold", "0.7").output
    assert "2 of 4 rows" in out
    assert sql('SELECT id FROM "notes@2" ORDER BY id') == [{"id": "a"}, {"id": "c"}]
    assert lineage("notes@2")["options"] == {"operation": "dedupe", "mode": "near",
                                             "column": "text", "threshold": 0.7}


def test_dedupe_near_needs_a_column(critiques: Path) -> None:
    out = run("curate", "critique-sft", "--dedupe", "near", code=2).output
    assert "--dedupe near needs --column" in out


def test_sample_is_seeded(critiques: Path) -> None:
    run("curate", "critique-sft@1", "--sample", "5", "--seed", "7")
    run("curate", "critique-sft@1", "--sample", "5", "--seed", "7")
    run("curate", "critique-sft@1", "--sample", "5", "--seed", "8")
    picks = [sql(f'SELECT list(id ORDER BY id) AS ids FROM "critique-sft@{v}"')[0]["ids"]
             for v in (2, 3, 4)]
    assert len(picks[0]) == 5 and picks[0] == picks[1] and picks[0] != picks[2]
    assert lineage("critique-sft@4")["options"] == {"operation": "sample", "n": 5, "seed": 8}


def test_split_adds_exact_shares(critiques: Path) -> None:
    out = run("curate", "critique-sft", "--split", "test=0.1", "--split", "valid=0.25",
              "--into", "critique-split").output
    assert "Wrote critique-split@1: 20 of 20 rows (split of critique-sft@1)" in out
    counts = sql('SELECT split, count(*) AS n FROM "critique-split" GROUP BY split ORDER BY split')
    assert counts == [{"split": "test", "n": 2}, {"split": "train", "n": 13},
                      {"split": "valid", "n": 5}]
    build = lineage("critique-split@1")
    assert build["inputs"][0]["name"] == "critique-sft" and build["inputs"][0]["version"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--split", "test=1.5"], "a fraction between 0 and 1"),
    (["--split", "test=0.6", "--split", "dev=0.6"], "add up to 1.2"),
    (["--split", "train=0.2"], "is the rest of the rows"),
    (["--split", "test"], "a fraction between 0 and 1"),
    (["--split", "te st=0.1"], "invalid step name"),
    (["--sample", "3", "--where", "true"], "give exactly one of"),
    ([], "give exactly one of"),
    (["--apply-review"], "no reviews of critique-sft@1 yet"),
    (["--where", "no_such_column > 1"], "no_such_column"),
    (["--dedupe", "exact", "--column", "nope"], "unknown column 'nope'"),
    (["--where", "true", "--into", "Bad Name"], "invalid dataset name"),
])
def test_bad_curation_requests_fail_in_one_line(critiques: Path, args, message) -> None:
    result = CliRunner().invoke(cli, ["curate", "critique-sft", *args])
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert result.output.count("\n") == 1
    assert sql("SELECT count(*) AS n FROM versions") == [{"n": 1}]


def test_apply_review_drops_rejected_and_applies_edits(critiques: Path) -> None:
    from datagen_plugins.serve.reviews import save_review

    with Catalog.open() as catalog:
        info = catalog.resolve("critique-sft@1")
        save_review(catalog, info, "row-003", reviewer="ann", decision="reject")
        save_review(catalog, info, "row-004", reviewer="ann", decision="reject")
        save_review(catalog, info, "row-004", reviewer="bo", decision="accept", note="fine")
        save_review(catalog, info, "row-005", reviewer="bo", decision="accept",
                    edits={"critique": "Edited critique."}, label="good")
    out = run("curate", "critique-sft@1", "--apply-review").output
    assert "Wrote critique-sft@2: 19 of 20 rows (apply-review of critique-sft@1)" in out
    assert sql('SELECT count(*) AS n FROM "critique-sft@2" WHERE id = \'row-003\'') == [{"n": 0}]
    assert sql('SELECT critique FROM "critique-sft@2" WHERE id IN (\'row-004\', \'row-005\') '
               "ORDER BY id") == [{"critique": "Sentence [S1] is unsupported; [S3] repeats "
                                                "the input 4. Score: 54."},
                                  {"critique": "Edited critique."}]
    source = lineage("critique-sft@2")["inputs"][0]
    assert source["operation"] == "apply-review"
    assert source["review_set"]["reviews"] == 3
    assert source["review_set"]["reviewers"] == ["ann", "bo"]
    assert len(source["review_set"]["digest"]) == 64
    assert sql("SELECT count(*) AS n FROM reviews") == [{"n": 4}]  # all kept, append-only


def test_reviews_are_checked(critiques: Path) -> None:
    from datagen.errors import NotFound, UsageError
    from datagen_plugins.serve.reviews import save_review

    with Catalog.open() as catalog:
        info = catalog.resolve("critique-sft@1")
        for kwargs, message in [
            ({"decision": "maybe"}, "invalid review decision"),
            ({"edits": {"score": "9"}}, "cannot edit column 'score'"),
            ({"edits": {"critique": 3}}, "must be text"),
            ({"label": "x" * 65}, "at most 64"),
        ]:
            with pytest.raises(UsageError, match=message):
                save_review(catalog, info, "row-001", reviewer="ann", **kwargs)
        with pytest.raises(UsageError, match="invalid reviewer"):
            save_review(catalog, info, "row-001", reviewer=" ")
        with pytest.raises(NotFound, match="unknown row"):
            save_review(catalog, info, "row-999", reviewer="ann", decision="accept")
