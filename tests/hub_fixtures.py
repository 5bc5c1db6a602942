"""Fixtures for the hub tests: a Hub-compatible server on 127.0.0.1 and a client pointed at it.

The Hub client and ``datasets`` read their endpoint, cache folders and token file when they
are first imported, so besides the environment the fixture also points those module
settings at this test's server and temporary folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hub_server import HubServer

TOKEN = "hf_datagen_test_secret_0123456789"


@dataclass
class HubEnv:
    server: HubServer
    token: str
    hf_home: Path

    @property
    def url(self) -> str:
        return self.server.url

    def load_rows(self, repo_id: str, revision: str, split: str = "train") -> list[dict]:
        """What a user of the real ``datasets`` library gets at ``revision``, sorted by id."""
        import datasets

        loaded = datasets.load_dataset(repo_id, revision=revision, split=split)
        return sorted(loaded.to_list(), key=lambda row: row["id"])


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnv]:
    import datasets.config
    import huggingface_hub.constants as hub_constants

    hf_home = tmp_path / "hf-home"
    server = HubServer(tokens={TOKEN}).start()
    settings = {
        "HF_ENDPOINT": server.url,
        "HF_TOKEN": TOKEN,
        "HF_HOME": str(hf_home),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_CACHE": str(hf_home / "datasets"),
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(hub_constants, "ENDPOINT", server.url)
    monkeypatch.setattr(hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(hub_constants, "HF_TOKEN_PATH", str(hf_home / "token"))
    monkeypatch.setattr(hub_constants, "HF_STORED_TOKENS_PATH", str(hf_home / "stored_tokens"))
    monkeypatch.setattr(hub_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", server.url)
    monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL",
                        server.url + "/datasets/{repo_id}/resolve/{revision}/{path}")
    cache = hf_home / "datasets"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "DOWNLOADED_DATASETS_PATH", cache / "downloads")
    monkeypatch.setattr(datasets.config, "EXTRACTED_DATASETS_PATH", cache / "extracted")
    try:
        yield HubEnv(server, TOKEN, hf_home)
    finally:
        server.stop()

