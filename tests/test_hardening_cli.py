"""Every expected failure is one line with its cause; Ctrl-C exits 130; no secrets leak."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from datagen.catalog import Catalog
from datagen.cli import cli
from datagen.readers import import_table

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def datagen(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "datagen.cli", *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
        **kwargs,
    )


class Recorder(ThreadingHTTPServer):
    """A 127.0.0.1 server answering every request with ``status`` and ``body``."""

    def __init__(self, status: int = 200, body: bytes = b"<html>hello</html>", echo=False):
        self.status, self.body, self.echo, self.paths = status, body, echo, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                outer.paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                body = outer.body
                if outer.echo:
                    body = json.dumps({"error": {"message": "Incorrect API key provided: "
                                       + str(self.headers.get("Authorization"))}}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def test_home_that_is_a_file_or_unwritable(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for home in (blocker, Path("/proc/datagen-cannot-exist")):
        monkeypatch.setenv("DATAGEN_HOME", str(home))
        line = one_line_error(run("datasets", code=1))
        assert f"cannot use {home} as the datagen home" in line


def test_full_disk_during_import_is_one_line(datagen_home, tmp_path: Path) -> None:
    with Catalog.open():
        pass  # the catalog exists; only the import's own writes hit the limit
    rows = "".join(json.dumps({"t": os.urandom(600).hex()}) + "\n" for _ in range(3000))
    path = tmp_path / "big.jsonl"
    path.write_text(rows)

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    process = datagen("import", str(path), "--name", "big", preexec_fn=small_disk)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "too large" in lines[0].lower()
    with Catalog.open() as cat:
        assert cat.datasets() == []
        assert cat.records("builds", status="failed")


def test_invalid_and_remote_schemas(datagen_home, tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"a": 1}\n')
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"type": "object", "properties": {"a": {"type": 5}}}))
    assert "invalid JSON schema at properties/a/type" in one_line_error(
        run("import", str(data), "--name", "d", "--schema", str(invalid), code=1))
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")
    assert "invalid JSON schema" in one_line_error(
        run("import", str(data), "--name", "d", "--schema", str(not_json), code=1))
    with Recorder(body=json.dumps({"type": "integer"}).encode()) as server:
        remote = tmp_path / "remote.json"
        remote.write_text(json.dumps({"type": "object", "properties": {
            "a": {"$ref": f"{server.url}/a.schema.json"}}}))
        line = one_line_error(
            run("import", str(data), "--name", "d", "--schema", str(remote), code=1))
        assert "never fetched" in line and server.paths == []


def test_hub_answering_200_with_html_is_one_line(datagen_home, tmp_path: Path) -> None:
    with Recorder() as server:
        env = {"HF_ENDPOINT": server.url, "HF_HOME": str(tmp_path / "hf"),
               "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": "hf_dummy_token_for_tests"}
        process = datagen("pull", "org/data", "--name", "pulled", env=env)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "not the Hub's JSON" in lines[0], stderr


def _wait_started(process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)


def test_ctrl_c_during_sql_exits_130(datagen_home) -> None:
    with Catalog.open():
        pass
    process = datagen("sql", "SELECT count(*) FROM range(100000000) a, range(100000000) b "
                             "WHERE a.range * 7 = b.range * 3 + 1")
    _wait_started(process, 4)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == [stderr.strip()] and "interrupted" in stderr


def test_ctrl_c_during_export_leaves_no_partial_file(datagen_home, tmp_path: Path) -> None:
    """Ctrl-C while the rows are written: exit 130 and no file; a signal that lands as the
    export completes may let it finish, but a partial file is never left behind."""
    rows = 1_500_000
    with Catalog.open() as cat:
        table = pa.table({"id": pa.array([str(i) for i in range(rows)]),
                          "t": pa.array([f"text {i}" * 4 for i in range(rows)])})
        import_table(cat, table, "big", {"kind": "test"})
    target = tmp_path / "out.jsonl"
    process = datagen("export", "big", "-o", str(target))
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.jsonl.*")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    while process.poll() is None:  # DuckDB may swallow a signal that lands as a query ends
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue
    stderr = process.stderr.read()
    assert list(tmp_path.glob(".out.jsonl.*")) == []
    assert process.returncode in (0, 130), stderr
    if process.returncode == 130:
        assert "interrupted" in stderr and len(stderr.strip().splitlines()) == 1
    if target.exists():
        assert sum(1 for _ in target.open()) == rows


def test_terminal_escapes_in_values_are_shown_not_sent(datagen_home, tmp_path: Path) -> None:
    path = tmp_path / "esc.jsonl"
    path.write_text(json.dumps({"id": "a", "t": "\x1b[2J\x1b]0;owned\x07red\x9b"}) + "\n")
    run("import", str(path), "--name", "esc")
    for output in (run("show", "esc").output, run("sql", "SELECT * FROM esc").output):
        assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
        assert "\\x1b[2J" in output


def test_server_error_bodies_never_store_the_api_key(tmp_path: Path, monkeypatch) -> None:
    from datagen.engine import Engine
    from datagen.llm import ChatRequest

    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdef1234567890")
    with Recorder(status=401, echo=True) as server, Engine(
        [f"openai:m@{server.url}/v1?retries=0"], home=tmp_path
    ) as engine:
        [answer] = engine.models[0].complete([ChatRequest.chat("hi", max_tokens=4)])
    assert answer.error and "HTTP 401" in answer.error and "Incorrect API key" in answer.error
    assert "abcdef1234567890" not in answer.error and "<redacted>" in answer.error


def test_published_card_has_no_local_paths(datagen_home, tmp_path: Path) -> None:
    from datagen_plugins.hub.card import CardFacts, render_card

    secret = tmp_path / "home" / "alice" / "private-project" / "rows.jsonl"
    facts = CardFacts(dataset="d", version=1, rows=1,
                      inputs=[{"kind": "file", "path": str(secret), "sha256": "ab"}],
                      command=f"datagen import {secret} --name d")
    card = render_card(facts, "org/d")
    assert "private-project" not in card and str(tmp_path) not in card
    assert "datagen import rows.jsonl --name d" in card


@pytest.mark.parametrize("payload", ['{"t": "\\ud800"}', '{"a": ' + "[" * 3000 + "]" * 3000 + "}"])
def test_hostile_json_values_are_one_line(datagen_home, tmp_path: Path, payload: str) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text(payload + "\n")
    line = one_line_error(run("import", str(path), "--name", "v", code=1))
    assert f"{path}:1:" in line
