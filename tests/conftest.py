"""Sealed tests: every test gets its own empty DATAGEN_HOME and no plugin restriction; only
converted model weights (derived from files the tests never change) are shared by the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def converted_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of converted model weights for the whole run: every test would otherwise
    convert the embedded model again (a second or two) in its own home."""
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(autouse=True)
def datagen_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 converted_weights: Path) -> Path:
    home = tmp_path / "datagen-home"
    monkeypatch.setenv("DATAGEN_HOME", str(home))
    monkeypatch.setenv("DATAGEN_WEIGHTS", str(converted_weights))
    monkeypatch.delenv("DATAGEN_PLUGINS", raising=False)
    monkeypatch.delenv("DATAGEN_DEBUG", raising=False)
    return home


def pytest_report_header() -> list[str]:
    return [f"DATAGEN_HOME per test under pytest's tmp_path; pid {os.getpid()}"]
