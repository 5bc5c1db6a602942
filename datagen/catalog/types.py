"""Plain records the catalog hands out and takes in (no heavy imports here)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from datagen.errors import InvalidName

NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
STEP_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
_NAME_RE = re.compile(rf"^{NAME_PATTERN}$")
_STEP_RE = re.compile(rf"^{STEP_PATTERN}$")
_REF_RE = re.compile(rf"^({NAME_PATTERN})(?:@([0-9]{{1,9}}))?$")

# Tables every catalog has; a dataset may not take one of these names.
SYSTEM_TABLES = (
    "builds", "failures", "versions", "steps", "models", "publications", "metrics", "reviews",
    "migrations",
)


def utc_now() -> datetime:
    """Naive UTC timestamps: what the catalog stores (no time-zone extension needed)."""
    return datetime.now(UTC).replace(tzinfo=None)


def check_name(name: str) -> str:
    """Reject anything but a plain dataset name: blocks path traversal and SQL injection."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidName(
            f"invalid dataset name {name!r}: use 1-64 characters from a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    if name in SYSTEM_TABLES:
        raise InvalidName(
            f"invalid dataset name {name!r}: reserved for a system table "
            f"({', '.join(SYSTEM_TABLES)})"
        )
    return name


def check_step(step: str) -> str:
    if not isinstance(step, str) or not _STEP_RE.match(step):
        raise InvalidName(f"invalid step name {step!r}: use 1-64 characters from A-Z a-z 0-9 . _ -")
    return step


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"name"`` -> (name, None); ``"name@3"`` -> (name, 3)."""
    match = _REF_RE.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidName(
            f"invalid dataset reference {ref!r}: use NAME or NAME@VERSION "
            "(NAME: a-z 0-9 . _ -, VERSION: a number from 1)"
        )
    name, version = match.group(1), match.group(2)
    check_name(name)
    if version is not None and int(version) < 1:
        raise InvalidName(f"invalid dataset reference {ref!r}: versions start at 1")
    return name, int(version) if version is not None else None


@dataclass
class BuildInfo:
    """What a build records about itself: the lineage of the version it writes.

    The writer fills ``dataset``, ``finished_at``, ``seconds``, ``counts`` and ``status``.
    """

    generator: str = ""
    dataset: str | None = None
    recipe: str | None = None
    recipe_text: str | None = None
    generator_version: str | None = None
    plugin: str | None = None
    plugin_version: str | None = None
    datagen_version: str | None = None
    code_revision: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    models: list[Any] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    command: str | None = None
    build_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{8,64}", self.build_id):
            raise InvalidName(f"invalid build id {self.build_id!r}: use 8-64 hex digits")
        if self.started_at.tzinfo is not None:
            self.started_at = self.started_at.astimezone(UTC).replace(tzinfo=None)
        if self.datagen_version is None:
            from datagen import __version__

            self.datagen_version = __version__


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    version: int
    rows: int
    created_at: datetime


@dataclass(frozen=True)
class VersionInfo:
    """One immutable version of a dataset, with the build that wrote it."""

    dataset: str
    version: int
    table_name: str
    build_id: str
    rows: int
    created_at: datetime
    build: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def name(self) -> str:
        """The dataset name (same as ``dataset``)."""
        return self.dataset


@dataclass(frozen=True)
class DiffResult:
    """How version ``b`` differs from ``a``, by row id. ``*_ids`` hold a sample."""

    a: str
    b: str
    added: int
    removed: int
    changed: int
    unchanged: int
    added_ids: list[str] = field(default_factory=list)
    removed_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
