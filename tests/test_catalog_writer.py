"""The catalog's writer, versions, lineage tables and names (real DuckLake, tmp home)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from datagen.catalog import BuildInfo, Catalog
from datagen.errors import CatalogBusy, CatalogError, InvalidName, NotFound
from datagen.generator import Failure


def rows(n: int, start: int = 0, text: str = "t") -> list[dict]:
    return [{"id": f"r{i}", "text": f"{text}{i}", "score": i % 5} for i in range(start, start + n)]


def write(cat: Catalog, name: str, records: list[dict], **build) -> int:
    with cat.writer(name, build=BuildInfo(generator="test", **build)) as w:
        w.write_rows(records)
        return w.commit({"calls": 1})


def test_commit_creates_version_with_lineage(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        info = BuildInfo(generator="gen", recipe="r", options={"k": 1}, inputs=[{"kind": "x"}])
        with cat.writer("fb", build=info) as w:
            w.write_rows(rows(3))
            w.write_rows(pa.Table.from_pylist(rows(2, start=3)))
            w.write_step("draft", [{"unit": 1, "text": "a"}])
            w.write_failures([Failure(step="judge", reason="bad json", raw_output="{")])
            assert w.commit({"calls": 7}) == 1
        assert [d.name for d in cat.datasets()] == ["fb"]
        assert cat.resolve("fb").rows == 5
        assert sorted(cat.read_arrow("fb@1").column("id").to_pylist()) == [
            f"r{i}" for i in range(5)
        ]
        assert cat.steps("fb@1") == ["draft"]
        assert cat.read_step("fb@1", "draft").to_pylist() == [{"unit": 1, "text": "a"}]
        (build,) = cat.records("builds", dataset="fb")
        assert build["status"] == "ok" and build["version"] == 1
        assert build["counts"] == {"rows": 5, "failures": 1, "calls": 7}
        assert build["options"] == {"k": 1} and build["generator"] == "gen"
        (failure,) = cat.records("failures", build_id=info.build_id)
        assert failure["reason"] == "bad json" and failure["raw_output"] == "{"
        assert cat.versions("fb")[0].build["recipe"] == "r"


def test_second_build_is_version_two_and_old_version_unchanged(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        assert write(cat, "fb", rows(2)) == 1
        assert write(cat, "fb", rows(3, text="u")) == 2
        assert [v.version for v in cat.versions("fb")] == [1, 2]
        assert cat.read_arrow("fb@1").num_rows == 2
        assert cat.read_arrow("fb").num_rows == 3
        batches = list(cat.read_batches("fb@2", batch_size=2))
        assert sum(b.num_rows for b in batches) == 3


def test_exception_in_writer_leaves_no_version(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        write(cat, "fb", rows(2))
        with pytest.raises(RuntimeError, match="model died"), cat.writer("fb") as w:
            w.write_rows(rows(500))
            w.write_step("draft", [{"a": 1}])
            raise RuntimeError("model died")
        assert [v.version for v in cat.versions("fb")] == [1]
        failed = cat.records("builds", status="failed")
        assert len(failed) == 1 and failed[0]["error"] == "model died"
        assert failed[0]["version"] is None
        folders = sorted(p.name for p in (datagen_home / "data" / "versions").iterdir())
        assert folders == [cat.resolve("fb@1").table_name]
        assert list((datagen_home / "data" / "pending").iterdir()) == []


def test_writer_closed_without_commit_writes_nothing(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        with cat.writer("fb") as w:
            w.write_rows(rows(2))
        with pytest.raises(NotFound):
            cat.resolve("fb")


def test_new_columns_in_later_batches_become_nullable(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        with cat.writer("fb") as w:
            w.write_rows([{"id": "a", "x": 1}])
            w.write_rows([{"id": "b", "x": 2, "extra": "e"}])
            w.write_rows([{"id": 3, "x": None}])
            w.commit()
        table = cat.read_arrow("fb").sort_by("id")
        assert table.to_pylist() == [
            {"id": "3", "x": None, "extra": None},
            {"id": "a", "x": 1, "extra": None},
            {"id": "b", "x": 2, "extra": "e"},
        ]


def test_rows_without_id_are_refused(datagen_home: Path) -> None:
    with (
        Catalog.open() as cat,
        pytest.raises(CatalogError, match="no 'id' column"),
        cat.writer("fb") as w,
    ):
        w.write_rows([{"text": "x"}])


def test_empty_version_is_allowed(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        with cat.writer("fb") as w:
            assert w.commit() == 1
        assert cat.read_arrow("fb@1").num_rows == 0


@pytest.mark.parametrize(
    "bad",
    ["../x", "a/b", '"; drop table builds; --', "Upper", "", "-lead", "a" * 65, "builds", "x y"],
)
def test_bad_names_are_rejected(datagen_home: Path, bad: str) -> None:
    with Catalog.open() as cat:
        with pytest.raises(InvalidName):
            cat.writer(bad)
        with pytest.raises(InvalidName):
            cat.resolve(bad)
        assert cat.datasets() == []
    assert not any(p.name.startswith(".") for p in datagen_home.iterdir())


@pytest.mark.parametrize("ref", ["fb@0", "fb@x", "fb@", "fb@-1", "fb@1@2"])
def test_bad_refs_are_rejected(datagen_home: Path, ref: str) -> None:
    with Catalog.open() as cat, pytest.raises(InvalidName):
        cat.resolve(ref)


def test_unknown_dataset_and_version(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        write(cat, "fb", rows(1))
        with pytest.raises(NotFound, match="unknown dataset 'nope'; known: fb"):
            cat.resolve("nope")
        with pytest.raises(NotFound, match="unknown version 'fb@4'; known: fb@1"):
            cat.resolve("fb@4")
        with pytest.raises(NotFound, match="step"):
            cat.read_step("fb@1", "draft")


def test_diff_by_row_id(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        write(cat, "fb", [{"id": "a", "v": 1}, {"id": "b", "v": 2}, {"id": "c", "v": 3}])
        write(cat, "fb", [{"id": "a", "v": 1}, {"id": "b", "v": 9}, {"id": "d", "v": 4}])
        result = cat.diff("fb@1", "fb@2")
        assert (result.added, result.removed, result.changed, result.unchanged) == (1, 1, 1, 1)
        assert (result.added_ids, result.removed_ids, result.changed_ids) == (["d"], ["c"], ["b"])
        same = cat.diff("fb@2", "fb")
        assert (same.added, same.removed, same.changed, same.unchanged) == (0, 0, 0, 3)


def test_records_of_models_and_publications(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        cat.append_record(
            "models",
            {
                "path": "/m",
                "dataset": "fb",
                "version": 1,
                "method": "sft",
                "metrics": {"loss": 0.5},
            },
        )
        cat.append_record(
            "publications", {"dataset": "fb", "version": 1, "repo": "o/fb", "commit": "abc"}
        )
        (model,) = cat.records("models", dataset="fb")
        assert model["metrics"] == {"loss": 0.5} and model["created_at"] is not None
        assert cat.records("publications")[0]["commit"] == "abc"
        with pytest.raises(CatalogError, match="unknown field 'bogus'"):
            cat.append_record("models", {"bogus": 1})
        with pytest.raises(CatalogError, match="cannot append to 'builds'"):
            cat.append_record("builds", {})
        assert cat.sql("SELECT count(*) AS n FROM models").to_pylist() == [{"n": 1}]


def test_reopen_keeps_data_and_migrations_run_once(datagen_home: Path) -> None:
    with Catalog.open() as cat:
        write(cat, "fb", rows(2))
    with Catalog.open() as cat:
        ids = cat.sql("SELECT id FROM migrations ORDER BY id").column("id").to_pylist()
        from datagen.catalog.migrations import MIGRATIONS

        assert ids == [number for number, _, _ in MIGRATIONS]
        assert cat.resolve("fb").rows == 2


def test_commit_reports_busy_when_lock_is_held(datagen_home: Path, monkeypatch) -> None:
    from datagen.catalog.lock import exclusive

    monkeypatch.setenv("DATAGEN_LOCK_TIMEOUT", "0.3")
    with Catalog.open() as cat:
        with (
            exclusive(cat.paths.lock),
            pytest.raises(CatalogBusy, match="^catalog busy: "),
            cat.writer("fb") as w,
        ):
            w.write_rows(rows(2))
            w.commit()
        assert cat.datasets() == []
        assert write(cat, "fb", rows(2)) == 1


def test_export_round_trip(datagen_home: Path, tmp_path: Path) -> None:
    from datagen.readers import import_file

    with Catalog.open() as cat:
        records = [
            {"id": "a", "n": 1, "tags": ["x"], "meta": {"k": "v"}},
            {"id": "b", "n": 2, "tags": [], "meta": {"k": "w"}},
        ]
        write(cat, "fb", records)
        for fmt in ("parquet", "jsonl"):
            out = cat.export("fb@1", tmp_path / f"out.{fmt}", fmt)
            info = import_file(cat, out, "fb")
            assert cat.read_arrow(info.ref).sort_by("id").to_pylist() == records
            result = cat.diff("fb@1", info.ref)
            assert result.unchanged == 2 and result.changed == 0
        with pytest.raises(CatalogError, match="unknown export format 'xml'"):
            cat.export("fb", tmp_path / "x", "xml")


def test_jsonl_export_is_one_record_per_line_for_any_reader(datagen_home: Path,
                                                            tmp_path: Path) -> None:
    import json

    texts = ["next\u0085line", "line\u2028separator", "para\u2029graph", "plain\nnewline"]
    with Catalog.open() as cat:
        write(cat, "breaks", [{"id": str(i), "text": t} for i, t in enumerate(texts)])
        out = cat.export("breaks", tmp_path / "out.jsonl", "jsonl")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(texts)
    assert sorted((json.loads(line) for line in lines), key=lambda r: r["id"]) == [
        {"id": str(i), "text": t} for i, t in enumerate(texts)]


def test_small_batches_are_written_as_full_row_groups(tmp_path: Path, monkeypatch) -> None:
    import pyarrow.parquet as pq

    import datagen.catalog.writer as writer_module

    monkeypatch.setattr(writer_module, "ROW_GROUP_ROWS", 10)
    sink = writer_module.PartSink(tmp_path, "rows")
    for start in range(0, 35, 7):
        sink.add(pa.Table.from_pylist(rows(7, start=start)))
    (path,) = sink.close()
    metadata = pq.ParquetFile(path).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [10, 10, 10, 5]
    assert pq.read_table(path).column("id").to_pylist() == [f"r{i}" for i in range(35)]
