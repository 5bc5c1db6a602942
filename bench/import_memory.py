"""Peak memory of `datagen import` against file size, with baselines from the same run.

For JSON Lines files of growing size (rows of ~1 KB, like feedback records), each import
runs in its own process and its peak RSS is read from the kernel (wait4). Baselines,
measured in the same run on the same files:

- start-up: a process that imports datagen and opens the catalog, imports nothing;
- whole file: read the file, parse every line, build one Arrow table and write it to
  Parquet, the way an import worked before it streamed.

A streaming import's peak should stay flat as the file grows: peak minus start-up is the
fixed buffer. Usage: .venv/bin/python bench/import_memory.py [--sizes-mb 25,100,200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024

STARTUP = """
import sys
from datagen.catalog import Catalog
with Catalog.open(sys.argv[1]):
    pass
"""
STREAMING = """
import sys
from datagen.catalog import Catalog
from datagen.readers import import_file
with Catalog.open(sys.argv[1]) as cat:
    import_file(cat, sys.argv[2], "bench")
"""
WHOLE_FILE = """
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
from datagen.catalog import Catalog
with Catalog.open(sys.argv[1]):
    raw = open(sys.argv[2], "rb").read()
    records = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    table = pa.Table.from_pylist(records)
    pq.write_table(table, sys.argv[1] + "/whole.parquet", compression="zstd")
"""


def make_file(path: Path, size_mb: int) -> int:
    """JSON Lines of feedback-like rows until ``size_mb``; returns the row count."""
    rng = random.Random(size_mb)
    words = [f"w{n}" for n in range(5000)]
    rows, written = 0, 0
    with path.open("w", encoding="utf-8") as handle:
        while written < size_mb * MB:
            record = {
                "id": f"row-{rows}",
                "prompt": " ".join(rng.choices(words, k=70)),
                "response": " ".join(rng.choices(words, k=90)),
                "score": rng.randint(1, 10),
                "tags": rng.sample(["a", "b", "c", "d"], 2),
            }
            line = json.dumps(record) + "\n"
            handle.write(line)
            written += len(line)
            rows += 1
    return rows


def peak_rss_mb(script: str, home: Path, path: Path) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of one fresh process running ``script``."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", script, str(home), str(path)], cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark process failed: {script.strip().splitlines()[-1]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="25,100,200", help="file sizes in MiB")
    parser.add_argument("--skip-whole-above", type=int, default=400,
                        help="skip the whole-file baseline for larger files (MiB)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes_mb.split(",")]
    with tempfile.TemporaryDirectory(prefix="datagen-bench-") as scratch:
        folder = Path(scratch)
        startup, _ = peak_rss_mb(STARTUP, folder / "home-startup", folder / "none")
        print(f"start-up baseline (import datagen, open the catalog): {startup:.0f} MiB")
        print(f"{'file':>8} {'rows':>8} | {'streaming import':>17} {'s':>6} | "
              f"{'whole-file':>15} {'s':>6} | stream/whole  stream-startup")
        streamed = []
        for size in sizes:
            path = folder / f"rows-{size}.jsonl"
            rows = make_file(path, size)
            peak, seconds = peak_rss_mb(STREAMING, folder / f"home-{size}", path)
            streamed.append(peak)
            ratio = ""
            if size <= args.skip_whole_above:
                whole, whole_s = peak_rss_mb(WHOLE_FILE, folder / f"whole-{size}", path)
                memory = f"{whole:>11.0f} MiB {whole_s:>6.1f}"
                ratio = f"{peak / whole:.2f}x"
            else:
                memory = f"{'skipped':>15} {'':>6}"
            print(f"{size:>5} MiB {rows:>8} | {peak:>13.0f} MiB {seconds:>6.1f} | {memory} | "
                  f"{ratio:>11}  {peak - startup:>10.0f} MiB")
            path.unlink()
        growth = streamed[-1] - streamed[0]
        grown = max(sizes[-1] - sizes[0], 1)
        print(f"streaming peak grew {growth:+.0f} MiB while the file grew {grown} MiB "
              f"({growth / grown:.2f} MiB per MiB)")


if __name__ == "__main__":
    main()
