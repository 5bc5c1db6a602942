"""The CLI as a whole: every command has help, the README lists them, and start-up stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from datagen.cli import cli

ROOT = Path(__file__).parents[1]
HEAVY_MODULES = (
    "torch",
    "transformers",
    "trl",
    "vllm",
    "llama_cpp",
    "duckdb",
    "datasets",
    "polars",
)


def all_commands() -> list[tuple[str, ...]]:
    """Every command path, groups included, e.g. ('cache', 'stats')."""
    ctx = click.Context(cli)
    paths: list[tuple[str, ...]] = []

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            assert command is not None
            paths.append(prefix + (name,))
            if isinstance(command, click.Group):
                walk(command, prefix + (name,))

    walk(cli, ())
    return paths


def test_expected_commands_exist() -> None:
    top = {path[0] for path in all_commands()}
    expected = {
        "build",
        "recipes",
        "plugins",
        "backends",
        "cache",
        "import",
        "datasets",
        "show",
        "log",
        "diff",
        "export",
        "sql",
        "publish",
        "pull",
        "train",
        "models",
    }
    assert expected <= top, f"missing: {sorted(expected - top)}"


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    command_line = result.output.split("\n\n")[1].strip()
    assert command_line, f"`datagen {' '.join(path)}` has no description"


def test_readme_lists_every_top_level_command() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`datagen ([a-z]+)", readme))
    top = {path[0] for path in all_commands()}
    assert top <= documented, f"not in README: {sorted(top - documented)}"


def test_help_and_import_load_no_heavy_modules() -> None:
    code = (
        "import sys; from click.testing import CliRunner; import datagen;"
        "from datagen.cli import cli;"
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output;"
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"


def test_errors_are_one_line_without_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "datagen", "build", "no-such-recipe"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: unknown recipe 'no-such-recipe'; known: ")
    assert "critique-sft" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_switch_shows_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "datagen", "--debug", "build", "no-such-recipe"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_bad_option_assignment() -> None:
    result = CliRunner().invoke(cli, ["build", "critique-sft", "-o", "novalue"])
    assert result.exit_code == 2
    assert "option 'novalue' is not key=value" in result.output


def test_recipes_lists_bundled_recipes_with_their_generators() -> None:
    result = CliRunner().invoke(cli, ["recipes"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "generator=multicritique " in lines["critique-sft"]
    assert "generator=multicritique-pref" in lines["critique-pref"]
    assert "generator=responses" in lines["responses"]
