"""Build inputs from every kind of source: a Hub dataset read with the real clients."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from datagen.build import run_build
from datagen.catalog import Catalog

if TYPE_CHECKING:
    from hub_fixtures import HubEnv

pytestmark = pytest.mark.embedded
pytest_plugins = ["hub_fixtures"]  # the `hub` fixture

REPO = "someone/prompts"


def upload_prompts(hub: HubEnv) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from huggingface_hub import CommitOperationAdd, HfApi

    table = pa.table({"id": ["a", "b"], "prompt": ["Say hi.", "Name a colour."]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo(REPO, repo_type="dataset")
    operation = CommitOperationAdd("data/train-00000-of-00001.parquet", buffer.getvalue())
    return api.create_commit(REPO, [operation], commit_message="prompts", repo_type="dataset").oid


def test_build_reads_a_hub_dataset_at_a_recorded_commit(hub: HubEnv) -> None:
    commit = upload_prompts(hub)
    result = run_build("responses", input=f"hf:{REPO}", options={"n": 1, "max_tokens": 8},
                       quiet=True)
    assert (result.rows, result.failures) == (2, 0)
    with Catalog.open() as catalog:
        rows = catalog.read_arrow(f"responses@{result.version}").to_pylist()
        source = catalog.resolve(f"responses@{result.version}").build["inputs"][0]
    assert sorted(r["prompt"] for r in rows) == ["Name a colour.", "Say hi."]
    assert source == {"kind": "hf", "repo": REPO, "revision": "main", "commit": commit,
                      "split": "train"}
