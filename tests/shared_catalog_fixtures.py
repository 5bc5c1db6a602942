"""Real servers for the shared catalog: PostgreSQL (Debian package) and an S3 server (moto).

Both run on 127.0.0.1 on free ports, in temporary folders, for one test session. Each test
gets a fresh database and a fresh bucket prefix. PostgreSQL asks for a password (SCRAM),
so a wrong or missing password really fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "datagen"
PG_PASSWORD = "pg-Secret-7f3a9c"
S3_KEY_ID = "AKIDTESTDATAGEN01"
S3_SECRET = "s3-Secret-9d2e41b7"
BUCKET = "datagen-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            f"PostgreSQL's {name} is missing: apt-get install postgresql (make test does it)"
        )
    return found[-1]


def _as_server_user(folder: Path) -> tuple[dict, str | None]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` system user then."""
    if os.geteuid() != 0:
        return {}, None
    user = pwd.getpwnam("postgres")
    os.chown(folder, user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid}, user.pw_dir


@dataclass
class Postgres:
    port: int
    folder: Path
    run_as: dict

    def psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        result = subprocess.run(
            [pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
             "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
            env=env, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return result.stdout

    def dump(self, database: str) -> str:
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        result = subprocess.run(
            [pg_bin("pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
             "--data-only", database],
            env=env, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        return result.stdout

    def conninfo(self, database: str, password: str = PG_PASSWORD) -> str:
        return (
            f"dbname={database} host=127.0.0.1 port={self.port} user={PG_USER} password={password}"
        )


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A PostgreSQL server in a temporary folder on a free port, stopped and removed after."""
    folder = Path(tempfile.mkdtemp(prefix="datagen-pg-"))
    run_as, _ = _as_server_user(folder)
    pwfile = folder / "pw"
    pwfile.write_text(PG_PASSWORD + "\n")
    if run_as:
        os.chown(pwfile, run_as["user"], run_as["group"])
    port = free_port()
    data = folder / "data"
    subprocess.run(
        [pg_bin("initdb"), "-D", str(data), "-U", PG_USER, "--auth=scram-sha-256",
         f"--pwfile={pwfile}", "-E", "UTF8"],
        check=True, capture_output=True, cwd=folder, **run_as,
    )  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    ctl = [pg_bin("pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w"]
    subprocess.run([*ctl, "-o", options, "start"], check=True, capture_output=True,
                   cwd=folder, **run_as)  # fmt: skip
    try:
        yield Postgres(port=port, folder=folder, run_as=run_as)
    finally:
        stopped = subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True,
                                 cwd=folder, timeout=120, **run_as)  # fmt: skip
        if stopped.returncode != 0:
            _kill_postmaster(data)
        shutil.rmtree(folder, ignore_errors=True)


def _kill_postmaster(data: Path) -> None:
    """pg_ctl could not stop it: end the server this fixture started, by its own pid file."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGQUIT)


@dataclass
class S3Server:
    endpoint: str

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEY_ID,
            aws_secret_access_key=S3_SECRET, region_name="us-east-1",
        )  # fmt: skip

    def keys(self, prefix: str) -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """An S3-compatible server (moto) on a free port with the test bucket."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request else
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    s3 = S3Server(endpoint=f"http://127.0.0.1:{port}")
    s3.client().create_bucket(Bucket=BUCKET)
    try:
        yield s3
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@dataclass
class SharedCatalog:
    """One fresh shared catalog: its database, its bucket prefix and the environment."""

    database: str
    prefix: str
    env: dict[str, str]
    postgres: Postgres
    s3: S3Server

    @property
    def catalog(self) -> str:
        return self.env["DATAGEN_CATALOG"]

    @property
    def data(self) -> str:
        return self.env["DATAGEN_DATA"]


def s3_env(s3: S3Server) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": s3.endpoint,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_REGION": "us-east-1",
    }


def new_shared_catalog(postgres: Postgres, s3: S3Server) -> SharedCatalog:
    database = "lake_" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {database}")
    prefix = f"catalogs/{database}"
    env = {
        **s3_env(s3),
        "DATAGEN_CATALOG": "postgres:" + postgres.conninfo(database),
        "DATAGEN_DATA": f"s3://{BUCKET}/{prefix}",
    }
    return SharedCatalog(database, prefix, env, postgres, s3)


@pytest.fixture
def shared(postgres_server: Postgres, s3_server: S3Server, monkeypatch) -> SharedCatalog:
    """A fresh shared catalog, selected for this process through the environment."""
    found = new_shared_catalog(postgres_server, s3_server)
    for key, value in found.env.items():
        monkeypatch.setenv(key, value)
    return found
