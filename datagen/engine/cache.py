"""The call cache: every completed model call, stored the moment it completes.

SQLite in WAL mode at ``HOME/cache/calls.sqlite``. Each answer is committed on its own,
so a build killed with SIGKILL keeps every call that finished, and its rerun re-issues
only the rest. Keys are sha256 digests of everything that decides an answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datagen.engine.backend import Call, RawAnswer

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    identity TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    seconds REAL NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS digests (
    path TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT NOT NULL
);
"""


def cache_path(home: Path) -> Path:
    return Path(home) / "cache" / "calls.sqlite"


def call_key(kind: str, identity: str, call: Call) -> str:
    """The cache key of one attempt: backend kind, model identity and every request field."""
    request = call.request
    payload = {
        "kind": kind,
        "identity": identity,
        "messages": [m.as_dict() for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": list(request.stop),
        "schema": request.json_schema,
        **({"top_k": request.top_k} if request.top_k is not None else {}),
        "seed": call.seed,
        "sample_index": request.sample_index,
        "attempt": call.attempt,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CallCache:
    """A thread-safe handle on the cache database (one connection, one lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def get_many(self, keys: Iterable[str]) -> dict[str, RawAnswer]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, RawAnswer] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT key, text, finish_reason, prompt_tokens, completion_tokens, seconds"
                    f" FROM calls WHERE key IN ({marks})",
                    chunk,
                ).fetchall()
                for key, text, finish, ptok, ctok, secs in rows:
                    found[key] = RawAnswer(text, finish, ptok, ctok, None, secs)
        return found

    def put(self, key: str, kind: str, identity: str, answer: RawAnswer) -> None:
        """Store one completed call now (autocommit), so it survives a kill."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?,?,?)",
                (key, kind, identity, answer.text, answer.finish_reason, answer.prompt_tokens,
                 answer.completion_tokens, answer.seconds, time.time()),
            )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            total, tokens = self._db.execute(
                "SELECT count(*), coalesce(sum(completion_tokens), 0) FROM calls"
            ).fetchone()
            models = self._db.execute(
                "SELECT kind, identity, count(*) FROM calls GROUP BY kind, identity ORDER BY 3 DESC"
            ).fetchall()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
        return {
            "path": str(self.path),
            "calls": total,
            "completion_tokens": tokens,
            "bytes": size,
            "models": [{"kind": k, "identity": i, "calls": n} for k, i, n in models],
        }

    def clear(self) -> int:
        """Forget every stored call; returns how many there were."""
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM calls").fetchone()
            self._db.execute("DELETE FROM calls")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._lock:
            self._db.execute("VACUUM")
        return count

    def file_digest(self, path: Path) -> str:
        """sha256 of a weights file, remembered by path, mtime and size."""
        path = Path(path).resolve()
        stat = path.stat()
        with self._lock:
            row = self._db.execute(
                "SELECT digest FROM digests WHERE path=? AND mtime_ns=? AND size=?",
                (str(path), stat.st_mtime_ns, stat.st_size),
            ).fetchone()
        if row:
            return row[0]
        digest = _sha256_file(path)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO digests VALUES (?,?,?,?)",
                (str(path), stat.st_mtime_ns, stat.st_size, digest),
            )
        return digest

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def weights_digest(home: Path, paths: Iterable[Path]) -> str:
    """One digest for a set of weight files (a GGUF, or a model folder's files)."""
    cache = CallCache(cache_path(home))
    try:
        parts = [cache.file_digest(p) for p in sorted(Path(p) for p in paths)]
    finally:
        cache.close()
    if len(parts) == 1:
        return parts[0]
    return hashlib.sha256("".join(parts).encode()).hexdigest()
