"""Where datagen keeps its catalog, cache and data files."""

from __future__ import annotations

import os
from pathlib import Path


def datagen_home() -> Path:
    """``$DATAGEN_HOME`` if set, else ``$XDG_DATA_HOME/datagen`` or ``~/.local/share/datagen``."""
    explicit = os.environ.get("DATAGEN_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return (Path(base) / "datagen").resolve()
