"""Imports never change a value, refuse what cannot be read back, and stream in chunks."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from datagen import readers
from datagen.catalog import Catalog
from datagen.cli import cli
from datagen.errors import InvalidInput
from datagen.readers import import_file


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def exported_rows(name: str, tmp_path: Path) -> list[dict]:
    out = tmp_path / f"{name}-export.jsonl"
    run("export", name, "-o", str(out), "--force")
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_unterminated_quote_is_an_error_naming_the_line(datagen_home, tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'id,text\n1,fine\n2,"never closed\n3,lost\n4,lost too\n')
    with Catalog.open() as cat:
        with pytest.raises(InvalidInput, match=r"q\.csv:3: bad CSV: a quoted field starts"):
            import_file(cat, path, "q")
        assert cat.datasets() == []


def test_csv_values_stay_exactly_as_written(datagen_home, tmp_path: Path) -> None:
    cells = [["007", "02134", "Nan", "Inf", "1.50", "1e3", "true", ""],
             ["42", "00000", "nan", "-0", "2", " 7 ", "False", "x"]]
    header = ["code", "zip", "a", "b", "c", "d", "e", "f"]
    path = tmp_path / "values.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *cells])
    run("import", str(path), "--name", "v")
    rows = exported_rows("v", tmp_path)
    assert [[row[c] for c in header] for row in rows] == cells


def test_infer_types_converts_only_exact_spellings(datagen_home, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "n,lead,f,ratio,flag,mixed\n1,007,0.5,1.50,true,1\n"
                                     "22,8,2.25,2.0,false,x\n")
    run("import", str(path), "--name", "t", "--infer-types")
    with Catalog.open() as cat:
        types = dict(cat.schema("t"))
        assert (types["n"], types["f"], types["flag"]) == ("BIGINT", "DOUBLE", "BOOLEAN")
        assert {types["lead"], types["ratio"], types["mixed"]} == {"VARCHAR"}
        rows = cat.read_arrow("t").to_pylist()
    assert [r["lead"] for r in rows] == ["007", "8"]
    assert [r["ratio"] for r in rows] == ["1.50", "2.0"]


def test_schema_types_csv_columns_it_names(datagen_home, tmp_path: Path) -> None:
    schema = write(tmp_path / "s.json", json.dumps(
        {"type": "object", "properties": {"score": {"type": "integer"},
                                          "ok": {"type": "boolean"}}}))
    path = write(tmp_path / "s.csv", "id,score,ok,zip\na,3,true,007\n")
    with Catalog.open() as cat:
        info = import_file(cat, path, "s", schema=str(schema))
        assert cat.read_arrow(info.ref).to_pylist() == [
            {"id": "a", "score": 3, "ok": True, "zip": "007"}]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
def test_import_export_round_trip_keeps_every_value(
    datagen_home, tmp_path: Path, fmt: str
) -> None:
    rows = [{"id": "r1", "text": "caf\u00e9 \U0001f600\ttab\nnewline", "n": 2**53 + 1,
             "x": 0.1, "tags": ["a", ""], "meta": {"k": None, "deep": [[1, 2]]}},
            {"id": "r2", "text": "", "n": -1, "x": 1e-300, "tags": [], "meta": {"k": "v",
                                                                              "deep": []}}]
    path = tmp_path / f"rt.{fmt}"
    if fmt == "jsonl":
        write(path, "".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "json":
        write(path, json.dumps(rows, indent=2))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    run("import", str(path), "--name", "rt")
    assert exported_rows("rt", tmp_path) == rows


BAD_JSON = [
    ("nan.jsonl", '{"x": NaN}\n', r"nan\.jsonl:1: bad JSON: NaN is not a JSON value"),
    ("inf.json", '[{"x": 1},\n {"x": -Infinity}]', r"inf\.json:2: bad JSON: -Infinity"),
    ("dup.jsonl", '{"a": 1}\n{"a": 1, "a": 2}\n', r"dup\.jsonl:2: bad JSON: duplicate key 'a'"),
    ("surrogate.jsonl", '{"t": "ok"}\n{"t": "x\\ud800y"}\n', r"surrogate\.jsonl:2: .*lone"),
    ("deep.jsonl", '{"a": ' + "[" * 100 + "]" * 100 + "}\n", r"deep\.jsonl:1: JSON nested"),
    ("deeper.jsonl", '{"a": ' + "[" * 50000 + "]" * 50000 + "}\n", r"deeper\.jsonl:1: JSON nes"),
    ("case.jsonl", '{"Name": "a"}\n{"name": "b"}\n', r"line 2: columns 'Name' and 'name' dif"),
    ("empty-key.jsonl", '{"": 1}\n', r"line 1: column '' has no name"),
    ("nul.jsonl", '{"a\\u0000b": 1}\n', r"contains a NUL character"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_JSON, ids=[b[0] for b in BAD_JSON])
def test_values_that_cannot_be_read_back_are_refused(
    datagen_home, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = write(tmp_path / name, content)
    result = run("import", str(path), "--name", "bad", code=1)
    assert len(result.stderr.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(message, result.stderr), result.stderr
    with Catalog.open() as cat:
        assert cat.datasets() == [] and cat.records("builds") == []


def test_parquet_nan_is_refused_with_its_row(datagen_home, tmp_path: Path) -> None:
    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"x": [1.0, float("nan")]}), path)
    error = run("import", str(path), "--name", "n", code=1).stderr
    assert "row 2: field 'x' is nan" in error


def test_gzip_bomb_is_refused(datagen_home, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("datagen.formats.EXPANSION_FLOOR", 4 << 20)  # 64 MiB by default
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=9) as handle:
        line = b'{"a": "' + b"A" * (1 << 20) + b'"}\n'
        for _ in range(12):
            handle.write(line)
    assert path.stat().st_size < 20_000
    error = run("import", str(path), "--name", "b", code=1).stderr
    assert "decompression bomb" in error and "bomb.jsonl.gz" in error


def test_a_long_line_is_refused_not_read_whole(datagen_home, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("datagen.formats.MAX_RECORD_BYTES", 1000)
    path = write(tmp_path / "long.jsonl", '{"a": 1}\n{"a": "' + "x" * 5000 + '"}\n')
    with Catalog.open() as cat, pytest.raises(InvalidInput, match=r"long\.jsonl:2: line longer"):
        import_file(cat, path, "l")


def test_gzipped_files_import_like_plain_ones(datagen_home, tmp_path: Path) -> None:
    rows = [{"id": str(i), "t": f"row {i}"} for i in range(50)]
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    run("import", str(path), "--name", "g")
    assert exported_rows("g", tmp_path) == rows


def test_streaming_chunks_settle_types_over_the_whole_file(
    datagen_home, tmp_path: Path, monkeypatch
) -> None:
    """Chunks of 3 rows: a column that first appears late, ints then floats, nested
    fields that vary; the stored table is what one whole-file read gives."""
    rows = [{"a": i, "t": f"x{i}"} for i in range(7)]
    rows[5]["late"] = "here"
    rows[6]["a"] = 2.5
    rows[4]["obj"] = {"k": 1}
    rows[6]["obj"] = {"j": "v"}
    path = write(tmp_path / "s.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    with Catalog.open() as cat:
        whole = import_file(cat, path, "s")
        monkeypatch.setattr(readers, "CHUNK_ROWS", 3)
        chunked = import_file(cat, path, "s")
        assert cat.read_arrow(whole.ref).equals(cat.read_arrow(chunked.ref))
        table = cat.read_arrow(chunked.ref)
        assert cat.diff(whole.ref, chunked.ref).unchanged == 7
    assert table.schema.field("a").type == pa.float64()
    assert table.column("late").to_pylist() == [None] * 5 + ["here", None]
    assert table.column("obj").to_pylist()[6] == {"k": None, "j": "v"}


def test_show_reads_only_the_rows_it_shows(datagen_home, tmp_path: Path) -> None:
    with Catalog.open() as cat:
        readers.import_table(cat, pa.table({"n": list(range(1000))}), "many", {"kind": "t"})
        assert cat.head("many", 2).num_rows == 2
    output = run("show", "many", "--rows", "1").output
    assert "first 1 rows:" in output
    listed = run("sql", "SELECT n FROM many ORDER BY n", "--max-rows", "3").output
    assert listed.splitlines()[-1].startswith("(more rows")
    assert [line.strip() for line in listed.splitlines()[2:5]] == ["0", "1", "2"]
