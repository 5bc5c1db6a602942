"""Sealed tests: every test gets its own empty DATAGEN_HOME and no plugin restriction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def datagen_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "datagen-home"
    monkeypatch.setenv("DATAGEN_HOME", str(home))
    monkeypatch.delenv("DATAGEN_PLUGINS", raising=False)
    monkeypatch.delenv("DATAGEN_DEBUG", raising=False)
    return home


def pytest_report_header() -> list[str]:
    return [f"DATAGEN_HOME per test under pytest's tmp_path; pid {os.getpid()}"]
