"""``datagen eval constitution`` as a Python API.

The same judge labels the same pairs twice through the ``constitution-eval`` recipe: once
following the constitution, once with no rules. Agreement is the share of labeled pairs
where its pick matches the label (a failed judgment counts as a miss), reported on all
pairs, on the pairs the constitution came from and on the others (held out). The result
is a ``metrics`` row of kind ``constitution`` linked to the constitution's version, the
pairs and both judgment versions.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datagen.errors import InvalidInput, UsageError

from .options import PairColumns

EVAL_RECIPE = "constitution-eval"
GROUPS = ("all", "train", "held_out")
PAIR_OPTIONS = tuple(k for k in PairColumns.model_fields if k != "seed")


@dataclass
class ConstitutionReport:
    constitution: str
    version: int
    rules: list[str]
    metrics: dict[str, Any]
    pairs: str = ""  # the pairs judged (a file path, NAME@V or hf:ORG/NAME)
    judgments: dict[str, str] = field(default_factory=dict)  # "rules"/"no_rules" -> NAME@V
    metric_id: str = ""
    lineage: dict[str, Any] = field(default_factory=dict)  # of the pairs judged


def read_constitution(cat: Any, ref: str) -> tuple[str, int, list[str], set[str]]:
    """Name, version, rules in rank order, and the ids of the pairs it was built from."""
    info = cat.resolve(ref)
    table = cat.read_arrow(f"{info.dataset}@{info.version}")
    if "rule" not in table.column_names or "rank" not in table.column_names:
        raise InvalidInput("not a constitution: it has no rule and rank columns", path=ref)
    rows = sorted(table.to_pylist(), key=lambda r: r["rank"])
    source = {p["id"] for p in cat.read_step(f"{info.dataset}@{info.version}", "pairs")
              .to_pylist() if p["used"]}
    return info.dataset, info.version, [r["rule"] for r in rows], source


def build_of(cat: Any, name: str, version: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The inputs (lineage entries) and options of the build that wrote ``name@version``."""
    found = cat.sql(
        "SELECT b.inputs, b.options FROM versions v JOIN builds b ON b.build_id = v.build_id"
        f" WHERE v.dataset = '{name.replace(chr(39), chr(39) * 2)}' AND v.version = {int(version)}"
    ).to_pylist()
    inputs, options = (json.loads(v) if isinstance(v, str) else v for v in found[0].values())
    return inputs or [], options or {}


def source_pairs(cat: Any, name: str, version: int) -> tuple[str, dict[str, Any]]:
    """The input a constitution was built from (a file or a dataset version) and the
    column options it was read with: the default pairs of an evaluation."""
    inputs, options = build_of(cat, name, version)
    source = inputs[0] if inputs else {}
    ref = {"file": source.get("path"), "dataset": f"{source.get('name')}@{source.get('version')}"}
    if source.get("kind") not in ref:
        raise UsageError(f"{name}@{version} was built from a {source.get('kind')!r} input;"
                         " name the pairs with --pairs")
    return str(ref[source["kind"]]), {k: options[k] for k in PAIR_OPTIONS if k in options}


def agreement_by_group(judgments: list[dict[str, Any]], source: set[str]) -> dict[str, Any]:
    """Agreement and pair counts on all labeled pairs, the source pairs and the others."""
    labeled = [j for j in judgments if j["label"] is not None]
    groups = {"all": labeled, "train": [j for j in labeled if j["pair_id"] in source],
              "held_out": [j for j in labeled if j["pair_id"] not in source]}
    out: dict[str, Any] = {}
    for name, rows in groups.items():
        out[f"agreement_{name}"] = (sum(bool(j["agrees"]) for j in rows) / len(rows)
                                    if rows else None)
        out[f"pairs_{name}"] = len(rows)
    out["failed_judgments"] = sum(j["pick"] is None for j in labeled)
    return out


def evaluate_constitution(
    constitution: str, *, pairs: str | None = None, judge: str = "embedded",
    split: str | None = None, options: dict[str, Any] | None = None, home: Path | None = None,
    quiet: bool = True, command: str = "",
) -> ConstitutionReport:
    from datagen.catalog import Catalog
    from datagen.home import datagen_home

    home = home or datagen_home()
    with Catalog.open(home) as cat:
        name, version, rules, source = read_constitution(cat, constitution)
        built_from, columns = source_pairs(cat, name, version)
    if pairs is None:  # the constitution's own pairs, read the way its build read them
        pairs, options = built_from, {**columns, **(options or {})}
    base = {**(options or {}), "labels_required": True, "split": split}
    judged: dict[str, list[dict[str, Any]]] = {}
    refs: dict[str, str] = {}
    for label, given in (("rules", rules), ("no_rules", [])):
        refs[label], judged[label] = _judge(pairs, judge, {**base, "rules": given}, home,
                                            quiet, command)
    metrics = {f"{key}_{label}": value for label in judged
               for key, value in agreement_by_group(judged[label], source).items()}
    report = ConstitutionReport(name, version, rules, metrics, pairs, refs, uuid.uuid4().hex,
                                pairs_lineage(home, refs["rules"]))
    with Catalog.open(home) as cat:
        cat.append_record("metrics", _record(report, judge, split, command))
    return report


def _judge(pairs: str, judge: str, options: dict[str, Any], home: Path, quiet: bool,
           command: str) -> tuple[str, list[dict[str, Any]]]:
    from datagen.build import run_build
    from datagen.catalog import Catalog

    built = run_build(EVAL_RECIPE, input=pairs, models=[judge], options=options, home=home,
                      quiet=quiet, command=command, allow_empty=True)
    ref = f"{built.dataset}@{built.version}"
    with Catalog.open(home) as cat:
        return ref, cat.read_step(ref, "judgments").to_pylist()


def pairs_lineage(home: Path, judgments_ref: str) -> dict[str, Any]:
    """Exactly which pairs were judged (file digest, dataset version or Hub revision)."""
    from datagen.catalog import Catalog

    name, _, version = judgments_ref.rpartition("@")
    with Catalog.open(home) as cat:
        inputs, _ = build_of(cat, name, int(version))
    return inputs[0] if inputs else {}


def _record(report: ConstitutionReport, judge: str, split: str | None,
            command: str) -> dict[str, Any]:
    return {
        "metric_id": report.metric_id, "kind": "constitution",
        "dataset": report.constitution, "version": report.version, "model": judge,
        "judge": judge,
        "inputs": {"pairs": report.pairs, "pairs_lineage": report.lineage, "split": split,
                   "judgments": report.judgments},
        "metrics": report.metrics, "detail": {"rules": report.rules}, "command": command,
    }
