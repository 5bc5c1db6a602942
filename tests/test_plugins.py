"""The plugin host: a third-party package installed with pip is seen by the CLI and builds."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from datagen import plugins
from datagen.errors import PluginError
from datagen.generator import Generator

THIRD_PARTY_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "datagen-shout"
version = "1.2.3"

[project.entry-points.datagen]
shout = "datagen_shout"

[tool.setuptools]
packages = ["datagen_shout"]
[tool.setuptools.package-data]
datagen_shout = ["catalog/*"]
"""

THIRD_PARTY_PLUGIN = """
from pathlib import Path

import datagen
from datagen.generator import BatchOutput, Failure, Generator, GeneratorOptions, stable_id


class ShoutOptions(GeneratorOptions):
    suffix: str = "!"


class Shout(Generator):
    name = "shout"
    version = "1.2.3"
    Options = ShoutOptions
    output_schema = "shout"
    input_columns = ("text",)

    def generate(self, batch, ctx):
        out = BatchOutput()
        for text in batch["text"].to_list():
            if not text:
                out.failures.append(Failure(step="shout", reason="empty text"))
                continue
            shout = text.upper() + self.options.suffix
            out.rows.append({"id": stable_id(text), "text": text, "shout": shout})
        return out


@datagen.hookimpl
def datagen_register_generators(register):
    register(Shout)


@datagen.hookimpl
def datagen_register_catalogs(register):
    register(Path(__file__).parent / "catalog")
"""

SHOUT_RECIPE = """
[shout]
generator = "shout"
description = "Upper-cased text"
"""

SHOUT_SCHEMA = {
    "type": "object",
    "required": ["id", "text", "shout"],
    "properties": {
        "id": {"type": "string"},
        "text": {"type": "string"},
        "shout": {"type": "string", "maxLength": 40},
    },
}


@pytest.fixture(scope="module")
def third_party_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and pip-install a tiny third-party plugin into its own site folder."""
    root = tmp_path_factory.mktemp("shout")
    package = root / "src" / "datagen_shout"
    (package / "catalog").mkdir(parents=True)
    (root / "src" / "pyproject.toml").write_text(THIRD_PARTY_PYPROJECT)
    (package / "__init__.py").write_text(THIRD_PARTY_PLUGIN)
    (package / "catalog" / "shout.toml").write_text(SHOUT_RECIPE)
    (package / "catalog" / "shout.schema.json").write_text(json.dumps(SHOUT_SCHEMA))
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(root / "src"),
        ],
        check=True,
    )
    return site


def run_datagen(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "datagen", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plugins_command_lists_third_party_generator(third_party_site: Path) -> None:
    result = run_datagen(third_party_site, "plugins")
    assert result.returncode == 0, result.stderr
    assert "shout (datagen-shout 1.2.3)" in result.stdout
    assert "generator:shout" in result.stdout
    assert "datagen_register_generators" in result.stdout
    # bundled plugins come through the same entry-point group
    assert "generator:multicritique" in result.stdout


def test_build_runs_third_party_generator(third_party_site: Path, tmp_path: Path) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text("\n".join(json.dumps({"text": t}) for t in ["hello", "", "a" * 60, "bye"]))
    result = run_datagen(
        third_party_site, "build", "shout", "--input", str(source), "-q", "-o", "suffix=?"
    )
    assert result.returncode == 0, result.stderr
    assert "Wrote shout@1: 2 rows, 2 failures" in result.stdout

    query = run_datagen(
        third_party_site, "sql", "SELECT shout FROM shout ORDER BY shout", "--format", "json"
    )
    assert query.returncode == 0, query.stderr
    assert [r["shout"] for r in json.loads(query.stdout)] == ["BYE?", "HELLO?"]

    failures = run_datagen(
        third_party_site,
        "sql",
        "SELECT step, reason FROM failures ORDER BY step",
        "--format",
        "json",
    )
    reasons = json.loads(failures.stdout)
    assert reasons[0]["step"] == "shout" and reasons[0]["reason"] == "empty text"
    # the over-long row was caught by schema validation, not dropped
    assert reasons[1]["step"] == "validate"
    assert reasons[1]["reason"].startswith("row does not match its schema: shout:")

    lineage = run_datagen(
        third_party_site,
        "sql",
        "SELECT generator, generator_version, plugin, inputs FROM builds",
        "--format",
        "json",
    )
    [build] = json.loads(lineage.stdout)
    inputs = build.pop("inputs")
    assert build == {"generator": "shout", "generator_version": "1.2.3", "plugin": "shout"}
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert json.loads(inputs) == [{"kind": "file", "path": str(source), "sha256": digest}]


def test_unknown_generator_option_is_one_line_error(third_party_site: Path, tmp_path: Path) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text(json.dumps({"text": "x"}))
    result = run_datagen(third_party_site, "build", "shout", "--input", str(source), "-o", "loud=1")
    assert result.returncode == 2
    assert "unknown option 'loud' for generator 'shout'; allowed: seed, suffix" in result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_generator_names_are_rejected() -> None:
    class One(Generator):
        name = "same"
        output_schema = "x"

    registry = plugins.Registry("generator", key=lambda g: g.name)
    registry.add(One, "first")
    with pytest.raises(PluginError, match="'same' from plugin 'second' is already registered"):
        registry.add(One, "second")


def test_plugin_restriction_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAGEN_PLUGINS", "core")
    plugins.reset()
    try:
        names = [p["name"] for p in plugins.describe_plugins()]
    finally:
        monkeypatch.delenv("DATAGEN_PLUGINS")
        plugins.reset()
    assert names == ["core"]


def test_hookspec_module_documents_every_hook_with_its_signature() -> None:
    import inspect

    from datagen import hookspecs

    hooks = [name for name in dir(hookspecs) if name.startswith("datagen_")]
    assert hooks, "no hooks found"
    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    documented = re.findall(r"^### `(datagen_\w+)\((.*)\) -> (\w+)`$", docs, re.MULTILINE)
    assert sorted(name for name, _, _ in documented) == sorted(hooks)
    for name, params, returns in documented:
        spec = getattr(hookspecs, name)
        assert spec.__doc__, f"{name} has no docstring"
        signature = inspect.signature(spec)
        actual = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
        assert (params, returns) == (actual, signature.return_annotation), name
