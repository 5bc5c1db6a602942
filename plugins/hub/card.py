"""The dataset card (README.md) published with each version.

The card is rendered only from facts the catalog holds, with no clock and no machine paths,
so publishing the same version twice yields the same bytes (the Hub then sees no change).
The YAML header uses the metadata keys the Hub reads: license, task_categories,
size_categories, pretty_name, tags and configs. The config names the one Parquet file
exactly (no glob), so files left in the repo by other tools never leak into the split.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from datagen.errors import UsageError

DATA_DIR = "data"
SPLIT = "train"
DATA_FILE = f"{DATA_DIR}/{SPLIT}-00000-of-00001.parquet"

# License identifiers the Hub accepts in card metadata.
_LICENSE_IDS = """
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause
bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0
cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc intel-research
lppl-1.3c ms-pl apple-ascl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa
unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3
llama4 gemma unknown other
"""
HUB_LICENSES = frozenset(_LICENSE_IDS.split())

SIZE_CATEGORIES = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
]


@dataclass
class CardFacts:
    """What a card says about one dataset version; gathered from the catalog."""

    dataset: str
    version: int
    rows: int
    failures: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # name -> Arrow type
    recipe: str | None = None
    generator: str | None = None
    generator_version: str | None = None
    generator_description: str = ""
    plugin: str | None = None
    models: list[dict[str, Any]] = field(default_factory=list)  # spec, model, license
    inputs: list[dict[str, Any]] = field(default_factory=list)  # lineage records
    command: str | None = None
    citation: str | None = None
    task_categories: list[str] = field(default_factory=list)
    datagen_version: str | None = None
    code_revision: str | None = None
    license: str | None = None  # None: derived from the models' licenses
    description: str | None = None


def hub_license(value: str) -> str:
    """The Hub's identifier for a license name (``Apache-2.0`` -> ``apache-2.0``)."""
    normalized = value.strip().lower()
    if normalized not in HUB_LICENSES:
        raise UsageError(
            f"license {value!r} is not a Hub license id; use one such as apache-2.0, mit,"
            " cc-by-4.0, cc-by-nc-4.0, or 'other'"
        )
    return normalized


def default_license(models: list[dict[str, Any]]) -> str:
    """The models' license when they all share one the Hub knows, else ``other``."""
    found = {str(m.get("license") or "unknown").strip().lower() for m in models}
    if len(found) == 1:
        (only,) = found
        if only in HUB_LICENSES and only != "unknown":
            return only
    return "other"


def size_category(rows: int) -> str:
    for limit, label in SIZE_CATEGORIES:
        if rows < limit:
            return label
    return "n>1B"


def render_card(facts: CardFacts, repo_id: str) -> str:
    """README.md for ``facts``: the Hub's YAML metadata, then the lineage in Markdown."""
    license_id = hub_license(facts.license) if facts.license else default_license(facts.models)
    sections = [
        _metadata(facts, license_id),
        _title(facts),
        _loading(facts, repo_id),
        _contents(facts),
        _lineage(facts, license_id),
        _rebuild(facts),
        _citation(facts),
    ]
    return "\n".join(section for section in sections if section)


def _yaml_list(key: str, values: list[str]) -> str:
    return f"{key}:\n" + "".join(f"- {json.dumps(v)}\n" for v in values)


def _metadata(facts: CardFacts, license_id: str) -> str:
    tasks = list(facts.task_categories) or ["text-generation"]
    tags = ["datagen", "synthetic"] + ([facts.generator] if facts.generator else [])
    return (
        "---\n"
        f"license: {license_id}\n"
        f"pretty_name: {json.dumps(facts.dataset)}\n"
        + _yaml_list("task_categories", tasks)
        + _yaml_list("size_categories", [size_category(facts.rows)])
        + _yaml_list("tags", tags)
        + "configs:\n"
        "- config_name: default\n"
        "  data_files:\n"
        f"  - split: {SPLIT}\n"
        f"    path: {DATA_FILE}\n"
        "---\n"
    )


def _title(facts: CardFacts) -> str:
    text = facts.description or facts.generator_description or ""
    if facts.recipe and facts.generator:
        how = f"made by the `{facts.generator}` generator with datagen"
    else:
        how = "imported with datagen"
    intro = f"Version {facts.version} of `{facts.dataset}`, {how}."
    return f"# {facts.dataset}\n\n{text + chr(10) + chr(10) if text else ''}{intro}\n"


def _loading(facts: CardFacts, repo_id: str) -> str:
    return (
        "## Load this version\n\n```python\nfrom datasets import load_dataset\n\n"
        f'rows = load_dataset("{repo_id}", revision="v{facts.version}", split="{SPLIT}")\n```\n'
    )


def _contents(facts: CardFacts) -> str:
    lines = [
        "## Contents\n",
        f"- Rows: {facts.rows}",
        f"- Failures (inputs that produced no row; not included): {facts.failures}",
    ]
    if facts.columns:
        lines.append("\n| column | type |\n|---|---|")
        lines += [f"| `{name}` | {kind} |" for name, kind in facts.columns.items()]
    return "\n".join(lines) + "\n"


def _lineage(facts: CardFacts, license_id: str) -> str:
    lines = ["## Lineage\n"]
    if facts.recipe:
        lines.append(f"- Recipe: `{facts.recipe}`")
    if facts.generator:
        plugin = f" (plugin `{facts.plugin}`)" if facts.plugin else ""
        lines.append(f"- Generator: `{facts.generator}` {facts.generator_version or ''}{plugin}")
    if facts.datagen_version:
        revision = f", code {facts.code_revision}" if facts.code_revision else ""
        lines.append(f"- datagen {facts.datagen_version}{revision}")
    lines.append(f"- Dataset license: {license_id}")
    lines += _inputs(facts.inputs)
    lines += _models(facts.models)
    return "\n".join(lines) + "\n"


def _inputs(inputs: list[dict[str, Any]]) -> list[str]:
    if not inputs:
        return []
    return ["", "Inputs:", ""] + [f"- {describe_input(item)}" for item in inputs]


def describe_input(item: dict[str, Any]) -> str:
    """One input's lineage in words; local files by name and hash only (no machine paths)."""
    kind = item.get("kind")
    if kind == "dataset":
        return f"dataset `{item.get('name')}@{item.get('version')}`"
    if kind == "hf":
        commit = f", commit {item['commit']}" if item.get("commit") else ""
        return (
            f"Hub dataset `{item.get('repo')}` revision `{item.get('revision', 'main')}`"
            f" split `{item.get('split', SPLIT)}`{commit}"
        )
    if kind == "file":
        name = re.split(r"[\\/]", str(item.get("path", "")))[-1]
        digest = f" (sha256 {item['sha256']})" if item.get("sha256") else ""
        return f"file `{name}`{digest}"
    return ", ".join(f"{k}={v}" for k, v in sorted(item.items()))


def _models(models: list[dict[str, Any]]) -> list[str]:
    if not models:
        return []
    lines = ["", "Models:", "", "| spec | model | license |", "|---|---|---|"]
    for model in models:
        lines.append(
            f"| `{model.get('spec', '')}` | {model.get('model') or model.get('identity') or ''}"
            f" | {model.get('license') or 'unknown'} |"
        )
    return lines


def _rebuild(facts: CardFacts) -> str:
    command = facts.command or (f"datagen build {facts.recipe}" if facts.recipe else "")
    if not command:
        return ""
    return f"## Rebuild\n\n```bash\n{without_local_paths(command)}\n```\n"


def without_local_paths(command: str) -> str:
    """The command with every local path cut to its file name (no machine paths in cards)."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return shlex.join(_file_name(word) for word in words)


def _file_name(word: str) -> str:
    key, sep, value = word.partition("=")
    if sep and _is_path(value):
        return f"{key}={_file_name(value)}"
    if _is_path(word):
        return re.split(r"[\\/]", word.rstrip("/\\"))[-1] or word
    return word


def _is_path(word: str) -> bool:
    drive = re.match(r"^[A-Za-z]:[\\/]", word)
    return word.startswith(("/", "~", "./", "../", "\\")) or bool(drive)


def _citation(facts: CardFacts) -> str:
    if not facts.citation:
        return ""
    bibtex = facts.citation.strip()
    return f"## Citation\n\nThe method this data follows:\n\n```bibtex\n{bibtex}\n```\n"
