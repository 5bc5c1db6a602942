"""Property test: files whose column names and values are hostile strings go through every
dataset command (import, datasets, show, log, diff, export, sql, publish, pull) and come
back unchanged, with no SQL run from data and no control characters sent to the terminal."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from datagen.catalog import Catalog
from datagen.cli import cli

if TYPE_CHECKING:
    from hub_fixtures import HubEnv

pytest_plugins = ["hub_fixtures"]  # the `hub` fixture
pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")]

ATTACKS = [
    '"', '""', "'", "x\" := 1)) AS h FROM lake.main.versions; DELETE FROM lake.main.versions;--",
    "'; DROP TABLE builds; --", "a\nb", "tab\there", "\x1b[31mred", "$(rm -rf ~)", "\\",
    "select", "FROM", "id2", "versions", "lake.main.builds", "名前", "emoji \U0001f600",
    "semi;colon", "back`tick", "[bracket]", "{brace}", "%s", "NULL", " leading space",
]
names = st.one_of(
    st.sampled_from(ATTACKS),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
            min_size=1, max_size=30),
).filter(lambda name: name.strip() != "" and name != "id")
columns = st.lists(names, min_size=1, max_size=5, unique_by=str.lower)
values = st.one_of(
    st.sampled_from(ATTACKS),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=40),
)


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def no_raw_control(text: str) -> bool:
    return not any(ord(ch) < 32 and ch not in "\n" or 0x7F <= ord(ch) <= 0x9F for ch in text)


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def exported(name: str, folder: Path) -> tuple[list[dict], list[dict]]:
    as_jsonl = folder / "out.jsonl"
    as_parquet = folder / "out.parquet"
    run("export", name, "-o", str(as_jsonl), "--force")
    run("export", name, "-o", str(as_parquet), "--force")
    # U+0085 and U+2028 are escaped, so even str.splitlines() sees one record per line
    text = as_jsonl.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line]
    return lines, pq.read_table(as_parquet).to_pylist()


def exercise_every_command(cols: list[str], cells: list[str], folder: Path) -> None:
    rows = [{"id": f"r{i}", **{c: cells[(i + j) % len(cells)] for j, c in enumerate(cols)}}
            for i in range(3)]
    changed = [dict(r) for r in rows]
    changed[1][cols[-1]] = changed[1][cols[-1]] + " (edited)"
    run("import", str(write_rows(folder / "a.jsonl", rows)), "--name", "hostile")
    run("import", str(write_rows(folder / "b.jsonl", changed)), "--name", "hostile")

    listing = run("datasets").output
    assert "hostile" in listing
    for output in (run("show", "hostile@1").output, run("log", "hostile").output, listing,
                   run("sql", "SELECT * FROM hostile").output):
        assert no_raw_control(output), output
    diff = json.loads(run("diff", "hostile@1", "hostile@2", "--json").output)
    assert (diff["changed"], diff["unchanged"], diff["changed_ids"]) == (1, 2, ["r1"])
    as_json = json.loads(run("sql", 'SELECT * FROM "hostile@1" ORDER BY id',
                             "--format", "json").output)
    assert as_json == rows
    run("sql", "SELECT * FROM hostile", "--format", "csv")
    lines, table = exported("hostile@2", folder)
    assert lines == changed and table == changed
    with Catalog.open() as cat:
        assert [v.version for v in cat.versions("hostile")] == [1, 2]
        assert [r["status"] for r in cat.records("builds")] == ["ok", "ok"]


# Each example runs about 15 CLI commands; shrinking a failure would take many minutes,
# so it is off: a failure reports the example as generated.
@settings(max_examples=8, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cols=columns, cells=st.lists(values, min_size=1, max_size=4))
def test_hostile_names_and_values_through_every_command(
    cols: list[str], cells: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        monkeypatch.setenv("DATAGEN_HOME", str(folder / "home"))
        exercise_every_command(cols, cells, folder)


def test_hostile_names_through_publish_and_pull(hub: HubEnv, tmp_path: Path) -> None:
    cols = [c for c in ATTACKS if c not in ("versions",)][:12]
    cols = list({c.lower(): c for c in cols}.values())
    rows = [{"id": f"r{i}", **{c: f"{c}={i}" for c in cols}} for i in range(3)]
    run("import", str(write_rows(tmp_path / "a.jsonl", rows)), "--name", "hostile")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    run("publish", "hostile", "--repo", "acme/hostile")
    run("pull", "acme/hostile@v1", "--name", "pulled")
    with Catalog.open() as cat:
        pulled = sorted(cat.read_arrow("pulled").to_pylist(), key=lambda r: r["id"])
    assert pulled == rows
