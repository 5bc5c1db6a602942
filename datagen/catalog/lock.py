"""A cross-process file lock around the short moments the catalog is written."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datagen.errors import CatalogBusy

DEFAULT_TIMEOUT_S = 60.0


def lock_timeout() -> float:
    """``DATAGEN_LOCK_TIMEOUT`` seconds, else 60: how long a writer waits for another."""
    value = os.environ.get("DATAGEN_LOCK_TIMEOUT")
    try:
        return float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


@contextmanager
def exclusive(path: Path, timeout: float | None = None, what: str = "catalog") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; raise ``CatalogBusy`` after ``timeout`` s.

    ``flock`` is released by the kernel when a process dies, so a killed writer never
    leaves the catalog locked.
    """
    wait = lock_timeout() if timeout is None else timeout
    deadline = time.monotonic() + wait
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CatalogBusy(
                        f"catalog busy: another process has held the {what} lock {path} "
                        f"for more than {wait:g} s (set DATAGEN_LOCK_TIMEOUT to wait longer)"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def try_lock(path: Path) -> int | None:
    """Lock ``path`` without waiting; the open descriptor, or None if someone holds it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def commit_lock(paths: Any) -> contextlib.AbstractContextManager[None]:
    """The local file lock for a local catalog; nothing for a shared one.

    A file lock cannot reach writers on other machines: a shared catalog relies on
    DuckLake's transactions in PostgreSQL instead (conflicting commits are retried).
    """
    if paths.shared:
        return contextlib.nullcontext()
    return exclusive(paths.lock)
