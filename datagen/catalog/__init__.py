"""The versioned dataset catalog (DuckLake). INTERFACE STUB: being implemented.

Every helper codes against exactly these names and signatures.

    from datagen.catalog import Catalog

    with Catalog.open(home) as cat:                      # home: Path | None -> datagen_home()
        cat.datasets() -> list[DatasetInfo]              # name, latest version, rows, created_at
        cat.versions(name) -> list[VersionInfo]          # every version with its build metadata
        cat.resolve("name@3" | "name") -> VersionInfo    # NotFound / InvalidName on bad refs
        cat.read_arrow("name@3") -> pyarrow.Table
        cat.read_batches("name@3", batch_size) -> Iterator[pyarrow.RecordBatch]
        cat.read_step("name@3", "step") -> pyarrow.Table # intermediate step table
        cat.steps("name@3") -> list[str]
        cat.sql(query, writable=False) -> pyarrow.Table  # datasets as "name" / "name@3",
                                                         # "name@3/step", plus builds, failures,
                                                         # models, publications
        cat.diff("name@1", "name@2") -> DiffResult       # added/removed/changed ids by row id
        cat.export("name@3", path, fmt="parquet"|"jsonl") -> Path
        cat.append_record(table, record: dict)           # "models" | "publications" rows
        cat.records(table, **where) -> list[dict]

        with cat.writer(name, build=BuildInfo(...)) as w:  # one build = one new version
            w.write_rows(pyarrow.Table | list[dict])     # streamed, may be called many times
            w.write_step(step, pyarrow.Table | list[dict])
            w.write_failures(list[Failure])
            version = w.commit(stats: dict)              # atomic; exception -> nothing visible
"""
