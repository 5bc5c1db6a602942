"""Reading and importing feedback files, including every kind of bad file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen.catalog import Catalog
from datagen.errors import InvalidInput, InvalidName
from datagen.readers import import_file, import_table, read_file

RECORDS = [
    {"id": "a", "prompt": "What is 2+2?", "score": 4, "ok": True},
    {"id": "b", "prompt": "Name a prime.", "score": 3, "ok": False},
]


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    jsonl = write_text(tmp_path / "f.jsonl", "".join(json.dumps(r) + "\n" for r in RECORDS))
    array = write_text(tmp_path / "f.json", json.dumps(RECORDS, indent=2))
    csv = write_text(
        tmp_path / "f.csv", 'id,prompt,score,ok\na,What is 2+2?,4,true\nb,"Name a prime.",3,false\n'
    )
    parquet = tmp_path / "f.parquet"
    pq.write_table(pa.Table.from_pylist(RECORDS), parquet)
    return {"jsonl": jsonl, "json": array, "csv": csv, "parquet": parquet}


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_each_format_reads_the_same_rows(files: dict[str, Path], fmt: str) -> None:
    table = read_file(files[fmt], infer_types=True)
    assert table.to_pylist() == RECORDS
    assert table.schema.field("score").type == pa.int64()


def test_format_is_sniffed_without_extension(files: dict[str, Path], tmp_path: Path) -> None:
    for fmt, path in files.items():
        plain = tmp_path / f"noext-{fmt}"
        plain.write_bytes(path.read_bytes())
        assert read_file(plain, infer_types=True).to_pylist() == RECORDS, fmt


def test_import_twice_makes_version_two_with_lineage(datagen_home, files) -> None:
    with Catalog.open() as cat:
        first = import_file(cat, files["jsonl"], "fb")
        second = import_file(cat, files["csv"], "fb", infer_types=True)
        assert (first.ref, second.ref) == ("fb@1", "fb@2")
        source = second.build["inputs"][0]
        assert source["path"] == str(files["csv"].resolve()) and source["format"] == "csv"
        assert source["sha256"] == hashlib.sha256(files["csv"].read_bytes()).hexdigest()
        assert cat.diff("fb@1", "fb@2").unchanged == 2


def test_ids_from_content_are_stable_and_unique(datagen_home, tmp_path: Path) -> None:
    path = write_text(tmp_path / "noid.jsonl", '{"t": "x"}\n{"t": "y"}\n{"t": "x"}\n')
    with Catalog.open() as cat:
        import_file(cat, path, "fb")
        import_file(cat, path, "fb")
        ids = cat.read_arrow("fb@1").column("id").to_pylist()
        assert len(set(ids)) == 3 and cat.read_arrow("fb@1").column_names[0] == "id"
        assert cat.diff("fb@1", "fb@2").unchanged == 3


def test_integer_ids_become_strings(datagen_home, tmp_path: Path) -> None:
    path = write_text(tmp_path / "ints.jsonl", '{"id": 1, "t": "x"}\n{"id": 2, "t": "y"}\n')
    with Catalog.open() as cat:
        import_file(cat, path, "fb")
        assert cat.read_arrow("fb").column("id").to_pylist() == ["1", "2"]


def test_import_table_for_other_importers(datagen_home) -> None:
    with Catalog.open() as cat:
        info = import_table(
            cat, pa.table({"q": ["a", "b"]}), "hub-copy", {"kind": "hub", "repo": "o/d"}
        )
        assert info.rows == 2 and info.build["inputs"] == [{"kind": "hub", "repo": "o/d"}]


BAD_FILES = [
    ("bad.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3,,}\n', r"bad\.jsonl:3: bad JSON at column"),
    (
        "notobj.jsonl",
        '{"a": 1}\n[1, 2]\n',
        r"notobj\.jsonl:2: expected a JSON object per line, got array",
    ),
    ("broken.json", '[\n {"a": 1},\n {"a": 2\n', r"broken\.json:4: bad JSON"),
    ("items.json", '[{"a": 1}, 5]', r"items\.json: item 2: expected a JSON object, got integer"),
    ("top.json", '{"a": 1', r"top\.json:1: bad JSON"),
    ("empty.jsonl", "", r"empty\.jsonl: empty file"),
    ("blank.csv", "\n  \n", r"blank\.csv: empty file"),
    ("none.json", "[]", r"none\.json: no rows in file"),
    ("header.csv", "a,b\n", r"header\.csv: no rows in file"),
    (
        "mixed.jsonl",
        '{"score": 1}\n{"score": "high"}\n',
        r"field 'score' has inconsistent types: integer at line 1, string at line 2",
    ),
    ("ragged.csv", "a,b,c\n1,2,3\n4,5\n", r"ragged\.csv:3: expected 3 columns \(a, b, c\), got 2"),
    ("dupcol.csv", "a,a\n1,2\n", r"dupcol\.csv:1: CSV header: duplicate column 'a'"),
    (
        "dupid.jsonl",
        '{"id": "x"}\n{"id": "y"}\n{"id": "x"}\n',
        r"duplicate id 'x' \(line 1 and line 3\)",
    ),
    ("floatid.jsonl", '{"id": 1.5}\n', r"column 'id' must hold strings or integers"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_give_one_line_errors_and_change_nothing(
    datagen_home, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = write_text(tmp_path / name, content)
    with Catalog.open() as cat:
        with pytest.raises(InvalidInput, match=message) as error:
            import_file(cat, path, "fb")
        assert "\n" not in str(error.value)
        assert cat.datasets() == [] and cat.records("builds") == []


def test_latin1_file_names_byte_and_line(datagen_home, tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes('{"t": "ok"}\n{"t": "caf\u00e9"}\n'.encode("latin-1"))
    with Catalog.open() as cat, pytest.raises(InvalidInput) as error:
        import_file(cat, path, "fb")
    assert str(error.value).startswith(f"{path}:2: not UTF-8: byte 0xe9 at offset 22")


def test_bad_parquet_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        read_file(path)
    with pytest.raises(InvalidInput, match="nope.jsonl: no such file"):
        read_file(tmp_path / "nope.jsonl")


def test_bad_name_is_refused_before_reading(datagen_home, files) -> None:
    with Catalog.open() as cat:
        for bad in ("../etc", 'x"; DROP TABLE builds; --'):
            with pytest.raises(InvalidName):
                import_file(cat, files["jsonl"], bad)
        assert cat.datasets() == []


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    schema = {
        "type": "object",
        "required": ["id", "prompt", "score"],
        "properties": {
            "id": {"type": "string"},
            "prompt": {"type": "string"},
            "score": {"type": "integer"},
        },
    }
    return write_text(tmp_path / "rows.schema.json", json.dumps(schema))


def test_csv_checked_against_a_schema(datagen_home, tmp_path: Path, schema_file: Path) -> None:
    good = write_text(tmp_path / "good.csv", "id,prompt,score\n1,hi,3\n")
    missing = write_text(tmp_path / "missing.csv", "id,text,score\n1,hi,3\n")
    mistyped = write_text(tmp_path / "mistyped.csv", "id,prompt,score\n1,hi,3\n2,yo,high\n")
    with Catalog.open() as cat:
        with pytest.raises(
            InvalidInput, match=r"missing\.csv: line 2: field .*'prompt' is a required"
        ):
            import_file(cat, missing, "fb", schema=str(schema_file))
        with pytest.raises(
            InvalidInput, match=r"mistyped\.csv: line 3: field 'score': 'high' is not"
        ):
            import_file(cat, mistyped, "fb", schema=str(schema_file))
        assert cat.datasets() == []
        info = import_file(cat, good, "fb", schema=str(schema_file))
        assert cat.read_arrow(info.ref).to_pylist() == [{"id": "1", "prompt": "hi", "score": 3}]
