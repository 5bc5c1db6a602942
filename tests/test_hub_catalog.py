"""`datagen publish` and `datagen pull` end to end: real catalog, real clients, local Hub server."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from datagen.errors import InvalidName, NotFound
from datagen_plugins.hub.api import publish, pull
from datagen_plugins.hub.errors import HubError

if TYPE_CHECKING:
    from hub_fixtures import HubEnv

pytest_plugins = ["hub_fixtures"]  # the `hub` fixture
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

REPO = "acme/critiques"


def seed_versions(counts: tuple[int, ...] = (2, 4)) -> list[list[dict]]:
    """Versions 1.. of ``critique-sft`` in this test's catalog, as a build would write them."""
    from datagen.catalog import BuildInfo, Catalog
    from datagen.generator import Failure

    written = []
    with Catalog.open() as catalog:
        for count in counts:
            records = [{"id": f"r{i:02d}", "critique": f"critique {i}", "score": i}
                       for i in range(count)]
            build = BuildInfo(
                generator="multicritique", recipe="critique-sft", generator_version="0.1.0",
                models=[{"spec": "embedded", "model": "SmolLM2-135M", "license": "Apache-2.0"}],
                inputs=[{"kind": "file", "path": "/data/seeds.jsonl", "sha256": "abc"}],
                command="datagen build critique-sft --limit 3",
            )
            with catalog.writer("critique-sft", build=build) as writer:
                writer.write_rows(records)
                writer.write_failures([Failure(step="aggregate", reason="no JSON")])
                writer.commit({"rows": count, "failures": 1})
            written.append(records)
    return written


def run(*args: str) -> tuple[int, str]:
    from datagen.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def publications() -> list[dict]:
    from datagen.catalog import Catalog

    with Catalog.open() as catalog:
        return catalog.records("publications")


def test_publish_versions_with_the_cli(hub: HubEnv):
    v1, v2 = seed_versions()
    code, out = run("publish", "critique-sft@1", "--repo", REPO)
    assert code == 0 and "Published critique-sft@1" in out and "as v1" in out
    code, out = run("publish", "critique-sft", "--repo", REPO)  # the latest: version 2
    assert code == 0 and "Published critique-sft@2" in out
    code, out = run("publish", "critique-sft@1", "--repo", REPO)
    assert code == 0 and "already published" in out and "nothing changed" in out

    assert hub.load_rows(REPO, "v1") == v1
    assert hub.load_rows(REPO, "v2") == v2
    tags = hub.server.repos[("datasets", REPO)].tags
    recorded = {(p["version"], p["tag"], p["commit"], p["repo"]) for p in publications()}
    assert recorded == {(1, "v1", tags["v1"], REPO), (2, "v2", tags["v2"], REPO)}


def test_card_comes_from_the_catalog(hub: HubEnv):
    from huggingface_hub import DatasetCard

    seed_versions((3,))
    publish("critique-sft@1", REPO, license="mit", description="Critiques for training critics.")
    card = DatasetCard.load(REPO, repo_type="dataset")
    assert card.data.license == "mit"
    assert card.data.size_categories == ["n<1K"]
    for expected in ("Critiques for training critics.", "Recipe: `critique-sft`",
                     "`multicritique` 0.1.0", "SmolLM2-135M | Apache-2.0", "Rows: 3",
                     "not included): 1", "datagen build critique-sft --limit 3",
                     "file `seeds.jsonl` (sha256 abc)"):
        assert expected in card.text, expected


def test_card_cites_the_generator(hub: HubEnv):
    from huggingface_hub import DatasetCard

    from datagen.plugins import get_generator

    citation = get_generator("multicritique").citation
    assert citation
    seed_versions((1,))
    publish("critique-sft@1", REPO)
    assert citation.strip() in DatasetCard.load(REPO, repo_type="dataset").text


def test_token_is_never_printed_nor_stored(hub: HubEnv, datagen_home: Path):
    from huggingface_hub import hf_hub_download

    seed_versions()
    outputs = [run("publish", "critique-sft@1", "--repo", REPO)[1],
               run("publish", "critique-sft@1", "--repo", REPO)[1],
               run("pull", f"{REPO}@v1", "--name", "pulled")[1]]
    hub.server.inject("commit", status=500)
    outputs.append(run("publish", "critique-sft@2", "--repo", REPO)[1])
    secret = hub.token.encode()
    for text in outputs:
        assert hub.token not in text
    stored = [path for path in datagen_home.rglob("*") if path.is_file()]
    assert stored, "the catalog wrote no files"
    assert [p for p in stored if secret in p.read_bytes()] == []
    card = Path(hf_hub_download(REPO, "README.md", repo_type="dataset", revision="v1"))
    assert secret not in card.read_bytes()


def test_pull_imports_a_revision_with_its_source(hub: HubEnv):
    from datagen.catalog import Catalog

    v1, v2 = seed_versions()
    publish("critique-sft@1", REPO)
    publish("critique-sft@2", REPO)
    code, out = run("pull", f"{REPO}@v1", "--name", "from-hub")
    assert code == 0 and "Wrote from-hub@1: 2 rows" in out
    latest = pull(REPO, "from-hub")
    assert latest.version == 2 and latest.revision == "main"

    tags = hub.server.repos[("datasets", REPO)].tags
    with Catalog.open() as catalog:
        assert sorted(catalog.read_arrow("from-hub@1").to_pylist(), key=lambda r: r["id"]) == v1
        assert sorted(catalog.read_arrow("from-hub@2").to_pylist(), key=lambda r: r["id"]) == v2
        source = catalog.resolve("from-hub@1").build["inputs"][0]
    assert source["kind"] == "hf" and source["repo"] == REPO and source["revision"] == "v1"
    assert source["commit"] == tags["v1"] and source["split"] == "train"


def push_two_configs(hub: HubEnv) -> None:
    """A repo written by someone else: configs ``default`` (train/test) and ``extra``."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from huggingface_hub import CommitOperationAdd, HfApi

    def parquet(ids: list[str]) -> bytes:
        buffer = io.BytesIO()
        pq.write_table(pa.table({"id": ids, "text": [f"text of {i}" for i in ids]}), buffer)
        return buffer.getvalue()

    card = ("---\nconfigs:\n- config_name: default\n  data_files:\n"
            "  - split: train\n    path: main/train.parquet\n"
            "  - split: test\n    path: main/test.parquet\n"
            "- config_name: extra\n  data_files:\n  - split: train\n    path: extra/train.parquet\n"
            "---\n# two configs\n")
    api = HfApi()
    api.create_repo("someone/mixed", repo_type="dataset")
    api.create_commit("someone/mixed", [
        CommitOperationAdd("main/train.parquet", parquet(["a", "b", "c"])),
        CommitOperationAdd("main/test.parquet", parquet(["t"])),
        CommitOperationAdd("extra/train.parquet", parquet(["x", "y"])),
        CommitOperationAdd("README.md", card.encode()),
    ], commit_message="data", repo_type="dataset")


def test_pull_a_split_and_a_config(hub: HubEnv):
    push_two_configs(hub)
    assert pull("someone/mixed", "mixed-test", split="test").rows == 1
    assert pull("someone/mixed", "mixed-extra", config="extra").rows == 2
    with pytest.raises(HubError, match="someone/mixed@.*split"):
        pull("someone/mixed", "nope", split="validation")


def test_pull_faults(hub: HubEnv):
    seed_versions((2,))
    with pytest.raises(InvalidName, match="is not ORG/NAME"):
        pull("not a repo", "x")
    with pytest.raises(InvalidName, match="invalid dataset name 'Bad Name'"):
        pull(REPO, "Bad Name")
    assert hub.server.requests == []
    with pytest.raises(HubError, match="acme/missing: repository not found"):
        pull("acme/missing", "x")
    publish("critique-sft@1", REPO)
    with pytest.raises(HubError, match="revision not found"):
        pull(f"{REPO}@v9", "x")
    hub.server.inject("repo_info", status=500)
    with pytest.raises(HubError, match="HTTP 500"):
        pull(REPO, "x")
    assert pull(REPO, "x").version == 1


def test_cli_errors_are_one_line_with_an_exit_code(hub: HubEnv):
    seed_versions((1,))
    code, out = run("publish", "critique-sft@1", "--repo", "no-slash")
    assert code == 2 and out.strip().splitlines() == [
        "Error: repo id 'no-slash' is not ORG/NAME (letters, digits, '-', '_', '.';"
        " no '--' or '..'; at most 96 characters each)"]
    code, out = run("publish", "critique-sft@7", "--repo", REPO)
    assert code != 0 and len(out.strip().splitlines()) == 1 and "critique-sft@7" in out
    hub.server.inject("commit", status=500)
    code, out = run("publish", "critique-sft@1", "--repo", REPO)
    assert code == 1 and len(out.strip().splitlines()) == 1 and "HTTP 500" in out
    assert publications() == []
    code, out = run("publish", "critique-sft@1", "--repo", REPO)
    assert code == 0 and len(publications()) == 1


def test_unknown_dataset_fails_before_contacting_the_hub(hub: HubEnv):
    with pytest.raises(NotFound):
        publish("nothing-here", REPO)
    assert hub.server.requests == []


def test_without_the_hub_extra_the_hub_commands_say_which_extra(monkeypatch) -> None:
    import importlib.util

    from datagen.errors import MissingExtra
    from datagen_plugins.hub.api import load_hub_table

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "huggingface_hub" else real(name, *a))
    with pytest.raises(MissingExtra, match=r"pip install 'datagen\[hub\]'"):
        load_hub_table("acme/prefs", None, split=None, config=None)
