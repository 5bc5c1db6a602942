"""Where a shared catalog lives: DuckLake metadata in PostgreSQL, Parquet files in S3.

``DATAGEN_CATALOG=postgres:<libpq connection string or URI>`` and
``DATAGEN_DATA=s3://BUCKET/PREFIX`` select it; the object store's endpoint and credentials
come from the usual ``AWS_*`` variables. Unset, the catalog stays local (SQLite metadata
and files under ``DATAGEN_HOME``).

Credentials are only handed to DuckDB in memory (a temporary S3 secret, the libpq
string); they are never written to the catalog, and every message that could quote them
goes through :meth:`SharedStore.redact`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from datagen.errors import UsageError

CATALOG_VAR = "DATAGEN_CATALOG"
DATA_VAR = "DATAGEN_DATA"
POSTGRES_PREFIX = "postgres:"
SECRET_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "PGPASSWORD")
HIDDEN = "***"
STORE_TIMEOUT_S = 300
_PASSWORD_KV = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URI_USERINFO = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)


@dataclass(frozen=True)
class SharedStore:
    """A PostgreSQL metadata connection string and an ``s3://`` data prefix ending in /."""

    metadata: str = field(repr=False)
    data: str

    @property
    def conninfo(self) -> str:
        """The connection string without its password (that goes to DuckDB as a secret)."""
        return _URI_USERINFO.sub(r"\1@", _PASSWORD_KV.sub("", self.metadata)).replace(":@", "@")

    @property
    def password(self) -> str | None:
        for pattern in (_PASSWORD_KV, _URI_USERINFO):
            found = pattern.search(self.metadata)
            if found:
                return found.group(2).strip("'")
        return None

    @property
    def versions(self) -> str:
        """Where staged version files are uploaded before their commit."""
        return self.data + "versions/"

    def describe(self) -> str:
        """Both locations, safe to print."""
        return f"{self.redact(POSTGRES_PREFIX + self.metadata)} + {self.data}"

    def secrets(self) -> list[str]:
        """Every credential value this store may hand to DuckDB."""
        found = [os.environ.get(name, "") for name in SECRET_VARS]
        found += [m.group(2).strip("'") for m in _PASSWORD_KV.finditer(self.metadata)]
        found += [m.group(2) for m in _URI_USERINFO.finditer(self.metadata)]
        return [value for value in found if len(value) >= 6]

    def redact(self, text: str) -> str:
        """``text`` with passwords, keys and tokens replaced by ``***``."""
        text = _PASSWORD_KV.sub(lambda m: m.group(1) + HIDDEN, text)
        text = _URI_USERINFO.sub(lambda m: m.group(1) + HIDDEN + m.group(3), text)
        for value in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(value, HIDDEN)
        return text


def parse_store(catalog: str, data: str | None) -> SharedStore:
    """``postgres:...`` plus ``s3://BUCKET/PREFIX`` -> a ``SharedStore``; UsageError else."""
    if not catalog.startswith(POSTGRES_PREFIX):
        raise UsageError(
            f"{CATALOG_VAR} must start with {POSTGRES_PREFIX!r} (a PostgreSQL connection "
            "string); leave it unset for the local catalog"
        )
    metadata = catalog[len(POSTGRES_PREFIX) :].strip()
    if not metadata:
        raise UsageError(f"{CATALOG_VAR}={POSTGRES_PREFIX} needs a connection string after it")
    if not data:
        raise UsageError(f"a shared catalog needs {DATA_VAR}=s3://BUCKET/PREFIX for its data files")
    parts = urlsplit(data)
    if parts.scheme != "s3" or not parts.netloc:
        raise UsageError(f"{DATA_VAR} must be s3://BUCKET/PREFIX, got {data!r}")
    return SharedStore(metadata=metadata, data=data.rstrip("/") + "/")


def store_from_env() -> SharedStore | None:
    """The shared store named by the environment, or None for the local catalog."""
    catalog = os.environ.get(CATALOG_VAR, "").strip()
    if not catalog:
        return None
    return parse_store(catalog, os.environ.get(DATA_VAR, "").strip())


def postgres_secret_sql(store: SharedStore) -> str | None:
    """The connection's password as DuckDB's default PostgreSQL secret (kept in memory and
    shown redacted), so it is not part of the attached path that SQL can read back."""
    from datagen.catalog.lake import sql_string

    if store.password is None:
        return None
    return f"CREATE OR REPLACE SECRET (TYPE postgres, PASSWORD {sql_string(store.password)})"


def s3_secret_sql() -> str:
    """A temporary (in-memory) DuckDB S3 secret from the ``AWS_*`` environment variables."""
    from datagen.catalog.lake import sql_string

    options = {
        "KEY_ID": "AWS_ACCESS_KEY_ID",
        "SECRET": "AWS_SECRET_ACCESS_KEY",
        "SESSION_TOKEN": "AWS_SESSION_TOKEN",
    }
    parts = ["TYPE s3", "PROVIDER config"]
    for option, var in options.items():
        if os.environ.get(var):
            parts.append(f"{option} {sql_string(os.environ[var])}")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        parts.append(f"REGION {sql_string(region)}")
    url = _endpoint()
    if url:
        parts.append(f"ENDPOINT {sql_string(url.netloc)}")
        parts.append("URL_STYLE 'path'")
        parts.append(f"USE_SSL {'false' if url.scheme == 'http' else 'true'}")
    return f"CREATE OR REPLACE SECRET datagen_s3 ({', '.join(parts)})"


def redact_any(text: str) -> str:
    """Passwords in connection strings and the ``AWS_*``/``PGPASSWORD`` values -> ``***``."""
    return SharedStore(metadata=os.environ.get(CATALOG_VAR, ""), data="").redact(text)


def _endpoint() -> SplitResult | None:
    """The S3 endpoint from ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` (https if bare)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return None
    return urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)


def arrow_s3():  # -> pyarrow.fs.S3FileSystem (pyarrow is imported lazily)
    """A pyarrow S3 filesystem from the same ``AWS_*`` variables, to stream parts to S3."""
    from pyarrow import fs

    options = {
        "access_key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY"),
        "session_token": os.environ.get("AWS_SESSION_TOKEN"),
        "region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    }
    url = _endpoint()
    if url:
        options.update(endpoint_override=url.netloc, scheme=url.scheme)
    options = {key: value for key, value in options.items() if value}
    # A slow store finishing a large part must not be asked twice (see lake.HTTP_TIMEOUT_S).
    return fs.S3FileSystem(**options, request_timeout=STORE_TIMEOUT_S, connect_timeout=30)
