"""Page times of ``datagen serve`` on a 100k-row version, against plain DuckDB reads.

Builds a catalog in a temporary folder: one 100k-row critique version (~1 KB a row) with
a 200k-row step table, failures and some reviews. Then times each page over HTTP on
127.0.0.1 (median of 7 after one warm-up, plus the first load) and, as the baseline, the
plain query that reads the same rows through one DuckDB cursor in the same process.
Target: every page under 200 ms.

    .venv/bin/python bench/serve.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TARGET_MS = 200.0
FILLER = ("The response restates the question and then gives a number without any working, "
          "so a reader cannot tell whether the sum was done or guessed. ") * 4


def make_rows(start: int, count: int) -> list[dict]:
    from serve_fixtures import critique_row

    rows = []
    for i in range(start, start + count):
        row = critique_row(i)
        row["id"] = f"row-{i:06d}"
        row["input_id"] = f"in-{i:06d}"
        row["critique"] = row["critique"] + " " + FILLER
        rows.append(row)
    return rows


def build_catalog(home: Path, n_rows: int) -> None:
    from datagen.catalog import BuildInfo, Catalog
    from datagen_plugins.serve.reviews import save_review

    with Catalog.open(home) as catalog:
        build = BuildInfo(generator="multicritique", recipe="critique-sft")
        with catalog.writer("critique-sft", build=build) as writer:
            for start in range(0, n_rows, 10_000):
                count = min(10_000, n_rows - start)
                writer.write_rows(make_rows(start, count))
                writer.write_step("critique_units", [
                    {"id": f"cu-{i}-{a}", "input_id": f"in-{i:06d}", "agent": a,
                     "description": f"agent {a} on input {i}"}
                    for i in range(start, start + count) for a in (0, 1)])
            writer.write_failures([{"step": "critique_units", "input_id": f"in-{i:06d}",
                                    "reason": "invalid JSON", "raw_output": "{",
                                    "attempts": 3} for i in range(0, n_rows, 97)])
            writer.commit({})
        info = catalog.resolve("critique-sft@1")
        for i in range(0, 200, 2):
            save_review(catalog, info, f"row-{i:06d}", reviewer="bench",
                        decision="reject" if i % 4 else "accept")


def ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def timed(fn, baseline=None, repeats: int = 7) -> tuple[float, float, float | None]:
    """(first call ms, median ms, baseline median ms), page and baseline taking turns so
    that load from other processes falls on both alike."""
    first = ms(fn)
    if baseline is not None:
        ms(baseline)
    times, base_times = [], []
    for _ in range(repeats):
        times.append(ms(fn))
        if baseline is not None:
            base_times.append(ms(baseline))
    base = statistics.median(base_times) if base_times else None
    return first, statistics.median(times), base


def baseline_reads(catalog, table: str, middle: str):
    """The plain DuckDB reads each page needs at least: a count and the rows shown."""
    def page(offset: int, where: str = "true", params: tuple = ()):
        def run() -> None:
            cur = catalog.cursor()
            cur.execute(f"SELECT count(*) FROM {table} WHERE {where}", list(params)).fetchall()
            cur.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY id LIMIT 50 OFFSET ?",
                        [*params, offset]).fetchall()
            cur.close()
        return run

    def row() -> None:
        cur = catalog.cursor()
        cur.execute(f"SELECT * FROM {table} WHERE id = ?", [middle]).fetchall()
        cur.close()

    return page, row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    import httpx
    from serve_fixtures import base_url, running_app

    from datagen.catalog import Catalog

    home = Path(tempfile.mkdtemp(prefix="datagen-bench-serve-"))
    os.environ["DATAGEN_HOME"] = str(home)
    start = time.perf_counter()
    build_catalog(home, args.rows)
    print(f"catalog: {args.rows} rows (~1 KB each) + {2 * args.rows} step rows written in "
          f"{time.perf_counter() - start:.1f} s")
    middle = f"row-{args.rows // 2:06d}"
    pages = [
        ("datasets", "/", None),
        ("version, first page", "/d/critique-sft/1", ("page", 0)),
        ("version, page at the middle", f"/d/critique-sft/1?offset={args.rows // 2}",
         ("page", args.rows // 2)),
        ("version, full-text search", "/d/critique-sft/1?q=input+4242", ("search", 0)),
        ("version, column filter", "/d/critique-sft/1?fc=score&fo=gt&fv=90000", ("filter", 0)),
        ("row page with trail", f"/d/critique-sft/1/row/{middle}", ("row", 0)),
        ("step table page", "/d/critique-sft/1/step/critique_units", None),
        ("builds", "/builds", None),
        ("failures", "/failures", None),
        ("SQL box (group by)", "/sql?q=SELECT+task_type,count(*)+FROM+%22critique-sft%22"
         "+GROUP+BY+1", None),
        ("API rows", "/api/d/critique-sft/1/rows?offset=1000", ("page", 1000)),
    ]
    with running_app(home) as app, httpx.Client(base_url=base_url(app), timeout=60) as http:
        table = f"lake.main.\"{app.catalog.resolve('critique-sft@1').table_name}\""
        page, row = baseline_reads(app.catalog, table, middle)
        baselines = {
            "page": lambda off: page(off),
            "search": lambda off: page(off, "contains(lower(query || critique), ?)",
                                       ("input 4242",)),
            "filter": lambda off: page(off, "score > ?", (90000,)),
            "row": lambda off: row,
        }
        print(f"\n{'page':32} {'first ms':>9} {'median ms':>10} {'plain DuckDB ms':>16} "
              f"{'ratio':>6}  under {TARGET_MS:.0f} ms")
        slow = 0
        for name, path, base in pages:
            def fetch(path=path) -> None:
                response = http.get(path)
                assert response.status_code == 200, (path, response.text[:200])
            first, median, plain = timed(fetch, baselines[base[0]](base[1]) if base else None)
            ratio = f"{median / plain:5.1f}x" if plain else "     -"
            plain_text = f"{plain:16.1f}" if plain else f"{'-':>16}"
            ok = median < TARGET_MS
            slow += not ok
            print(f"{name:32} {first:9.1f} {median:10.1f} {plain_text} {ratio}  "
                  f"{'yes' if ok else 'NO'}")
    with Catalog.open(home) as catalog:
        catalog.close()
    load = os.getloadavg()[0]
    print(f"\n{len(pages) - slow} of {len(pages)} pages under {TARGET_MS:.0f} ms (median); "
          f"load average {load:.1f} on {os.cpu_count()} cores; catalog left in {home}")


if __name__ == "__main__":
    main()
