"""Row types come from the record schema, so an early batch of empty lists cannot fix a
wrong column type for the rest of the build."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pyarrow as pa

from datagen.catalog import BuildInfo, Catalog
from datagen.validation import RowValidator

SCHEMA = {
    "type": "object",
    "required": ["id", "units"],
    "properties": {
        "id": {"type": "string"},
        "score": {"type": ["integer", "null"]},
        "units": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "severity": {"enum": ["Minor", "Severe"]},
                },
            },
        },
    },
}


def build_info() -> BuildInfo:
    return BuildInfo(build_id=uuid.uuid4().hex, dataset="typed", recipe="typed",
                     started_at=datetime.now(UTC))


def test_schema_types_survive_an_all_empty_first_batch(datagen_home) -> None:
    validator = RowValidator(SCHEMA)
    first = [{"id": "a", "score": None, "units": []}]
    second = [{"id": "b", "score": 7, "units": [{"tags": ["S1"], "severity": "Severe"}],
               "note": "kept although the schema does not name it"}]
    with Catalog.open(datagen_home) as catalog:
        with catalog.writer("typed", build=build_info(), schema=validator.arrow_schema) as writer:
            writer.write_rows(validator.to_arrow(first))
            writer.write_rows(validator.to_arrow(second))
            version = writer.commit({})
        table = catalog.read_arrow(f"typed@{version}").sort_by("id")

    units_type = table.schema.field("units").type
    assert units_type.value_type.field("tags").type == pa.list_(pa.string())
    assert table.column("units").to_pylist()[1] == [{"tags": ["S1"], "severity": "Severe"}]
    assert table.column("score").to_pylist() == [None, 7]
    assert table.column("note").to_pylist() == [None, "kept although the schema does not name it"]


def test_untyped_properties_are_inferred_not_dropped() -> None:
    validator = RowValidator({"type": "object", "properties": {"id": {"type": "string"},
                                                               "free": {}}})
    assert validator.arrow_schema.names == ["id"]
    table = validator.to_arrow([{"id": "x", "free": {"any": 1}}])
    assert table.column("free").to_pylist() == [{"any": 1}]
