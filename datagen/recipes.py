"""Recipes: named, buildable datasets declared in TOML files under ``catalogs/``.

A recipe says which generator builds a dataset, with which options, inputs and models::

    [critique-sft]
    generator = "multicritique"
    description = "Critiques of responses, aggregated from several agents"
    input = "data/critique-seeds.jsonl"   # a path next to this file, a dataset, or hf:org/name
    models = "embedded"                   # one spec for every role, or a table by role:
    # models = { agents = ["embedded", "gguf:/m/q.gguf"], judge = "openai:m@http://h:8000/v1" }
    [critique-sft.options]
    max_primary = 2

Plugins ship their own catalog folders through ``datagen_register_catalogs``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from datagen.errors import InvalidInput, NotFound, PluginError

RECIPE_KEYS = {"generator", "description", "input", "models", "options", "dataset"}


@dataclass(frozen=True)
class Recipe:
    name: str
    generator: str
    source: Path  # the TOML file that declares it
    description: str = ""
    input: str | None = None
    models: str | dict[str, Any] | None = None  # one spec for every role, or role -> spec(s)
    options: dict[str, Any] = field(default_factory=dict)
    dataset: str = ""  # the dataset it writes; defaults to the recipe name

    @property
    def dataset_name(self) -> str:
        return self.dataset or self.name

    def default_input(self) -> str | None:
        """The recipe's input, with a relative file path made absolute to its catalog file."""
        if self.input is None:
            return None
        candidate = self.source.parent / self.input
        return str(candidate) if candidate.exists() else self.input

    def text(self) -> str:
        """The recipe's own TOML table, for lineage."""
        return _recipe_text(self.source, self.name)


def parse_recipe_file(path: Path) -> list[Recipe]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"not a valid recipe file: {exc}", path=str(path)) from None
    return [_parse_recipe(path, name, table) for name, table in document.items()]


def _parse_recipe(path: Path, name: str, table: Any) -> Recipe:
    if not isinstance(table, dict) or "generator" not in table:
        raise InvalidInput(f"recipe [{name}] needs a 'generator' key", path=str(path))
    unknown = set(table) - RECIPE_KEYS
    if unknown:
        allowed = ", ".join(sorted(RECIPE_KEYS))
        raise InvalidInput(
            f"recipe [{name}] has unknown key(s) {', '.join(sorted(unknown))}; allowed: {allowed}",
            path=str(path),
        )
    return Recipe(
        name=name,
        generator=table["generator"],
        source=path,
        description=table.get("description", ""),
        input=table.get("input"),
        models=table.get("models"),
        options=dict(table.get("options", {})),
        dataset=table.get("dataset", ""),
    )


@cache
def all_recipes() -> dict[str, Recipe]:
    from datagen.plugins import catalog_folders

    recipes: dict[str, Recipe] = {}
    for folder in catalog_folders().items.values():
        for path in sorted(Path(folder).glob("*.toml")):
            for recipe in parse_recipe_file(path):
                if recipe.name in recipes:
                    raise PluginError(
                        f"recipe {recipe.name!r} in {path} is already declared in"
                        f" {recipes[recipe.name].source}"
                    )
                recipes[recipe.name] = recipe
    return recipes


def get_recipe(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        raise NotFound("recipe", name, recipes)
    return recipes[name]


def _recipe_text(path: Path, name: str) -> str:
    """The lines of ``path`` that belong to recipe ``name`` (its table and subtables)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    kept: list[str] = []
    inside = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            header = stripped.strip("[]").strip().strip('"')
            inside = header == name or header.startswith(f"{name}.")
        if inside:
            kept.append(line)
    return "\n".join(kept).strip() + "\n"
