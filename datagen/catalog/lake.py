"""Opening DuckDB with the DuckLake catalog attached, fully offline.

The ducklake and sqlite extensions come from pip packages and are loaded by file path
with autoinstall and autoload off, so nothing is downloaded and nothing lands in
``~/.duckdb``. Metadata lives in a SQLite file (in WAL mode, so readers never block the
writer), data in Parquet files under ``DATAGEN_HOME/data``. A shared catalog (``store``)
keeps its metadata in PostgreSQL and its files in S3 instead (see ``store.py``).
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datagen.errors import CatalogError

if TYPE_CHECKING:
    import duckdb

    from datagen.catalog.store import SharedStore

LAKE = "lake"


@dataclass(frozen=True)
class LakePaths:
    """Where the pieces of one catalog live under its home folder."""

    home: Path
    store: SharedStore | None = None  # set: metadata in PostgreSQL, data in object storage

    @property
    def shared(self) -> bool:
        return self.store is not None

    @property
    def attach_target(self) -> str:
        """The DuckLake ATTACH string (a shared one without its password: see connect)."""
        if self.store is not None:
            return "ducklake:postgres:" + self.store.conninfo
        return "ducklake:sqlite:" + str(self.metadata)

    @property
    def data_uri(self) -> str:
        """Where DuckLake keeps data files: the local data folder or the ``s3://`` prefix."""
        return self.store.data if self.store is not None else str(self.data) + "/"

    def where(self) -> str:
        """The catalog's location for messages (never with credentials)."""
        return self.store.describe() if self.store is not None else str(self.home)

    def redact(self, text: str) -> str:
        return self.store.redact(text) if self.store is not None else text

    @property
    def metadata(self) -> Path:
        return self.home / "catalog.sqlite"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def versions(self) -> Path:
        return self.data / "versions"

    @property
    def pending(self) -> Path:
        return self.data / "pending"

    @property
    def ready(self) -> Path:
        """Written once the catalog is created and migrated (until then, open under lock)."""
        return self.home / "catalog.ready"

    @property
    def lock(self) -> Path:
        return self.home / "catalog.lock"

    @property
    def extensions(self) -> Path:
        return self.home / "duckdb_extensions"

    def create(self) -> None:
        for folder in (self.home, self.data, self.versions, self.pending, self.extensions):
            folder.mkdir(parents=True, exist_ok=True)


def sql_string(value: str | Path) -> str:
    """A SQL string literal (paths cannot be bound as parameters in ATTACH/COPY)."""
    return "'" + str(value).replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """A SQL identifier for any name (quotes doubled), for names that come from data."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise CatalogError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def extension_file(name: str) -> Path:
    """The extension binary shipped in the ``duckdb-extension-<name>`` package."""
    import duckdb

    package = f"duckdb_extension_{name}"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CatalogError(
            f"DuckDB extension package {package!r} is not installed; "
            f"pip install duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise CatalogError(f"{package} has no build for DuckDB {duckdb.__version__}: {path}")
    return path


def prepare_metadata(paths: LakePaths) -> None:
    """Create the SQLite metadata file in WAL mode before DuckLake first opens it."""
    if paths.metadata.exists():
        return
    connection = sqlite3.connect(paths.metadata)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


EXTENSIONS = ("sqlite_scanner", "ducklake")
SHARED_EXTENSIONS = ("postgres_scanner", "httpfs", "ducklake")
HTTP_TIMEOUT_S = 300
ENV_CREDENTIAL_SETTINGS = ("s3_access_key_id", "s3_secret_access_key", "s3_session_token")


def _fingerprint(files: list[Path]) -> str:
    stats = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return json.dumps(stats)


def _verified_marker(paths: LakePaths) -> Path:
    return paths.extensions / ("verified-shared.json" if paths.shared else "verified.json")


def connect(
    paths: LakePaths, *, read_only: bool = False, sandboxed: bool = False
) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the catalog attached as ``lake`` and in use.

    ``sandboxed``: the engine itself refuses every file outside the catalog's data folder
    (no COPY to files, no reading other files, no ATTACH, no LOAD) and the configuration
    is locked so a query cannot turn that back on. Used for user SQL.

    DuckDB checks an extension's signature on every LOAD (0.3-0.4 s per extension here).
    The first load in a home is checked; the files' path, size and mtime are then noted,
    and later loads of the same unchanged files skip the repeated check.
    """
    import duckdb

    files = [extension_file(name) for name in extension_names(paths)]
    fingerprint = _fingerprint(files)
    marker = _verified_marker(paths)
    verified = marker.is_file() and marker.read_text() == fingerprint
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_unsigned_extensions": verified,
            "extension_directory": str(paths.extensions),
        }
    )
    try:
        for path in files:
            con.execute(f"LOAD {sql_string(path)}")
        if not verified:
            marker.write_text(fingerprint)
        if paths.store is not None:
            _use_credentials(con, paths.store)
        mode = ", READ_ONLY" if read_only else ""
        con.execute(
            f"ATTACH {sql_string(paths.attach_target)} AS {LAKE} "
            f"(DATA_PATH {sql_string(paths.data_uri)}{mode})"
        )
        con.execute(f"USE {LAKE}")
        if sandboxed:
            _sandbox(con, paths)
    except duckdb.Error as exc:
        con.close()
        reason = paths.redact(one_line(exc))
        raise CatalogError(f"cannot open the catalog in {paths.where()}: {reason}") from None
    return con


def _use_credentials(con: duckdb.DuckDBPyConnection, store: SharedStore) -> None:
    """In-memory secrets for S3 and PostgreSQL; nothing SQL could read back in clear."""
    from datagen.catalog.store import postgres_secret_sql, s3_secret_sql

    con.execute(s3_secret_sql())
    for setting in ENV_CREDENTIAL_SETTINGS:  # httpfs copies AWS_* here; SQL could read them
        con.execute(f"SET {setting} = ''")
    # A slow store finishing a large upload must not be asked twice (a repeated multipart
    # completion fails); 30 s is DuckDB's default.
    con.execute(f"SET http_timeout = {HTTP_TIMEOUT_S}")
    password = postgres_secret_sql(store)
    if password:
        con.execute(password)


def extension_names(paths: LakePaths) -> tuple[str, ...]:
    return SHARED_EXTENSIONS if paths.shared else EXTENSIONS


def _sandbox(con: duckdb.DuckDBPyConnection, paths: LakePaths) -> None:
    """Only the data folder stays reachable; no setting can be changed afterwards."""
    con.execute(f"SET allowed_directories = [{sql_string(paths.data_uri)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def one_line(exc: BaseException) -> str:
    """DuckDB's error without the caret diagram it adds on later lines."""
    from datagen.catalog.store import redact_any

    text = str(exc).strip()
    return redact_any(text.splitlines()[0]) if text else type(exc).__name__
