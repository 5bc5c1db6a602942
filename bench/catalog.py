"""Catalog write and query speed next to plain DuckDB on Parquet, in the same run.

    python bench/catalog.py              # 1M feedback-like rows (~1 KB of text each)
    python bench/catalog.py --rows 100000

datagen: rows streamed in Arrow batches through ``cat.writer`` and committed as a new
version, then a grouped query through ``cat.sql``. Plain: DuckDB ``COPY ... TO`` one zstd
Parquet file (level 1, as datagen writes; DuckDB's default level 3 is printed too) from
the same Arrow table, then the same query on ``read_parquet``.
Targets: write >= 0.8x plain rows/s, query time <= 1.2x plain.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

QUERY = (
    "SELECT model, category, count(*) AS n, avg(score) AS score, "
    "avg(length(response)) AS response_chars FROM {source} GROUP BY ALL ORDER BY ALL"
)
LETTERS = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz ", dtype=np.uint8)
WEIGHTS = np.array(
    [
        12.7,
        9.1,
        8.2,
        7.5,
        7.0,
        6.7,
        6.3,
        6.1,
        6.0,
        4.3,
        4.0,
        2.8,
        2.8,
        2.4,
        2.4,
        2.2,
        2.0,
        2.0,
        1.9,
        1.5,
        1.0,
        0.8,
        0.2,
        0.2,
        0.1,
        0.1,
        18.0,
    ]
)


def text_column(rng: np.random.Generator, rows: int, chars: int) -> pa.Array:
    """Random English-letter-frequency text, built without per-row Python."""
    data = rng.choice(LETTERS, size=rows * chars, p=WEIGHTS / WEIGHTS.sum())
    offsets = np.arange(0, (rows + 1) * chars, chars, dtype=np.int32)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))


def feedback_rows(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = pa.array(np.char.add("row-", np.arange(rows).astype(str)).astype(object), pa.string())
    models = np.array(["smollm2", "qwen", "llama", "mistral"])
    categories = np.array([f"cat{i}" for i in range(10)])
    return pa.table(
        {
            "id": ids,
            "prompt": text_column(rng, rows, 250),
            "response": text_column(rng, rows, 700),
            "critique": text_column(rng, rows, 120),
            "score": pa.array(rng.integers(1, 11, rows)),
            "model": pa.array(models[rng.integers(0, 4, rows)].astype(object), pa.string()),
            "category": pa.array(categories[rng.integers(0, 10, rows)].astype(object), pa.string()),
        }
    )


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def datagen_write(cat, table: pa.Table, batch_rows: int) -> None:
    with cat.writer("bench") as writer:
        for batch in table.to_batches(max_chunksize=batch_rows):
            writer.write_rows(batch)
        writer.commit({"rows": table.num_rows})


def plain_write(con, table: pa.Table, path: Path, level: int | None = None) -> None:
    """DuckDB's own Parquet writer; ``level`` None is its default zstd level (3)."""
    options = "FORMAT parquet, COMPRESSION zstd"
    if level is not None:
        options += f", COMPRESSION_LEVEL {level}"
    con.register("bench_rows", table)
    con.execute(f"COPY bench_rows TO '{path}' ({options})")
    con.unregister("bench_rows")


def pyarrow_write(table: pa.Table, path: Path) -> None:
    """The floor under datagen's writer: the same Parquet writer with no catalog around it."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        writer.write_table(table, row_group_size=122_880)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per write_rows call")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the best one counts")
    args = parser.parse_args()

    import duckdb

    from datagen.catalog import Catalog

    table = feedback_rows(args.rows)
    print(f"{args.rows} rows, {table.nbytes / args.rows:.0f} bytes/row in Arrow")
    with tempfile.TemporaryDirectory() as tmp, Catalog.open(Path(tmp) / "home") as cat:
        con = duckdb.connect()
        plain_path = Path(tmp) / "plain.parquet"
        ours, plain, plain_default, floor = [], [], [], []
        for _ in range(args.repeat):  # alternate so machine noise hits all alike
            plain_default.append(timed(lambda: plain_write(con, table, plain_path)))
            plain.append(timed(lambda: plain_write(con, table, plain_path, level=1)))
            ours.append(timed(lambda: datagen_write(cat, table, args.batch)))
            floor.append(timed(lambda: pyarrow_write(table, Path(tmp) / "pa.parquet")))
        q_plain = [
            timed(
                lambda: con.execute(QUERY.format(source=f"read_parquet('{plain_path}')")).fetchall()
            )
            for _ in range(5)
        ]
        q_ours = [timed(lambda: cat.sql(QUERY.format(source='"bench"'))) for _ in range(5)]
        check_same = cat.sql(QUERY.format(source='"bench"')).num_rows
        assert check_same == len(
            con.execute(QUERY.format(source=f"read_parquet('{plain_path}')")).fetchall()
        )
    report(args.rows, min(ours), min(plain), statistics.median(q_ours), statistics.median(q_plain))
    print(
        "(plain DuckDB above: COPY with zstd level 1, the level datagen's writer uses;"
        f" at DuckDB's default level 3: {args.rows / min(plain_default):,.0f} rows/s;"
        f" pyarrow ParquetWriter alone: {args.rows / min(floor):,.0f} rows/s)"
    )


def report(rows: int, ours: float, plain: float, q_ours: float, q_plain: float) -> None:
    write_ratio = (rows / ours) / (rows / plain)
    query_ratio = q_ours / q_plain
    print(
        f"write  datagen {rows / ours:>12,.0f} rows/s   plain DuckDB {rows / plain:>12,.0f} rows/s"
        f"   ratio {write_ratio:.2f}x (target >= 0.8x: {'met' if write_ratio >= 0.8 else 'MISSED'})"
    )
    print(
        f"query  datagen {q_ours * 1000:>10.1f} ms     plain DuckDB {q_plain * 1000:>10.1f} ms"
        f"     ratio {query_ratio:.2f}x"
        f" (target <= 1.2x: {'met' if query_ratio <= 1.2 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
