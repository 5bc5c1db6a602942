"""The catalog across processes: a writer killed with SIGKILL, concurrent writers,
readers during a build, and a lock holder that dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from datagen.catalog import Catalog

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import datagen.catalog.writer as writer_module
    from datagen.catalog import BuildInfo, Catalog

    writer_module.ROW_GROUP_ROWS = 50  # flush to Parquet early so files exist mid-write
    name, batches, go, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with Catalog.open() as cat:
        with cat.writer(name, build=BuildInfo(generator="proc")) as w:
            for i in range(batches):
                w.write_rows([{"id": f"{i}-{j}", "text": "x" * 200} for j in range(100)])
            print("written", flush=True)
            while go != "-" and not Path(go).exists():
                time.sleep(0.02)
            if hold == "hold":
                time.sleep(120)
            print("version", w.commit({"pid": 0}), flush=True)
    """
)


def start_writer(name: str, batches: int, go: str = "-", hold: str = "-") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, name, str(batches), go, hold],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(expected):
            return line.strip()
        if not line and proc.poll() is not None:
            raise AssertionError(f"writer exited {proc.returncode}: {proc.stderr.read()}")
    raise AssertionError(f"no {expected!r} from the writer")


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return out


def test_killed_writer_leaves_catalog_usable(datagen_home: Path) -> None:
    finish(start_writer("fb", 2))  # version 1
    proc = start_writer("fb", 6, hold="hold")
    wait_for_line(proc, "written")
    folders = [p for p in (datagen_home / "data" / "versions").iterdir()]
    assert len(folders) == 2 and all(list(f.glob("*.parquet")) for f in folders)  # mid-write
    with Catalog.open() as cat:  # readers work while the build runs
        assert cat.sql('SELECT count(*) AS n FROM "fb"').to_pylist() == [{"n": 200}]
        assert [d.version for d in cat.datasets()] == [1]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with Catalog.open() as cat:
        assert [v.version for v in cat.versions("fb")] == [1]
        assert cat.read_arrow("fb@1").num_rows == 200
        kept = sorted(p.name for p in (datagen_home / "data" / "versions").iterdir())
        assert kept == [cat.resolve("fb@1").table_name]  # abandoned files removed
        assert cat.records("builds", status="failed") == []
    out = finish(start_writer("fb", 3))
    assert "version 2" in out
    with Catalog.open() as cat:
        assert cat.resolve("fb").rows == 300


def test_two_concurrent_writers_both_succeed(datagen_home: Path) -> None:
    datagen_home.mkdir(parents=True)  # both processes create the catalog at the same time
    go = datagen_home / "go"
    procs = [start_writer("fb", 4, go=str(go)), start_writer("fb", 5, go=str(go))]
    for proc in procs:
        wait_for_line(proc, "written")
    go.touch()  # both commit at the same moment
    outputs = [finish(proc) for proc in procs]
    versions = sorted(int(out.split("version")[1]) for out in outputs)
    assert versions == [1, 2]
    with Catalog.open() as cat:
        assert sorted(v.rows for v in cat.versions("fb")) == [400, 500]
        builds = cat.records("builds", dataset="fb")
        assert len({b["build_id"] for b in builds}) == 2 and {b["status"] for b in builds} == {"ok"}


def test_lock_of_a_killed_process_is_released(datagen_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATAGEN_LOCK_TIMEOUT", "20")
    with Catalog.open() as cat:
        lock = cat.paths.lock
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from datagen.catalog.lock import exclusive\n"
            "with exclusive(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with Catalog.open() as cat, cat.writer("fb") as w:
        w.write_rows([{"id": "a"}])
        assert w.commit() == 1
