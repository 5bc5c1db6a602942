"""Cluster: all proposed rules by embedding (seeded k-means), one representative each."""

from __future__ import annotations

from typing import Any

import polars as pl

from datagen.generator import BatchOutput, GeneratorContext, stable_id
from datagen.steps import StepKit

from .logic import distances_to_centroid, first_of_each, kmeans, representatives, rule_key
from .options import ConstitutionOptions


def cluster(options: ConstitutionOptions, proposals: pl.DataFrame,
            ctx: GeneratorContext) -> BatchOutput:
    """``clusters`` (every proposal, its cluster) and ``candidates`` (one rule per cluster)."""
    kit = StepKit(ctx)
    records = proposals.to_dicts()
    if not records:
        return kit.out
    distinct = [records[i] for i in first_of_each([r["rule"] for r in records])]
    usable_pairs = ctx.table("pairs").filter(pl.col("used")).height
    k = min(options.cluster_count(usable_pairs), len(distinct))
    vectors = ctx.model("embedder").embed([r["rule"] for r in distinct])
    labels, centroids = kmeans(vectors, k, options.seed, options.kmeans_iterations)
    distances = distances_to_centroid(vectors, labels, centroids)
    chosen = representatives(labels, distances)
    kit.record("clusters", _members(records, distinct, labels, distances, chosen))
    kit.record("candidates", _candidates(distinct, labels, chosen))
    return kit.out


def _members(records: list[dict[str, Any]], distinct: list[dict[str, Any]],
             labels: list[int], distances: list[float],
             chosen: dict[int, int]) -> list[dict[str, Any]]:
    """Every proposal with its cluster; an exact duplicate joins its first occurrence's."""
    first = {rule_key(r["rule"]): i for i, r in enumerate(distinct)}
    representative_ids = {distinct[i]["id"] for i in chosen.values()}
    rows = []
    for record in records:
        home = first[rule_key(record["rule"])]
        rows.append({
            "id": record["id"], "input_id": record["pair_id"], "proposal_id": record["id"],
            "rule": record["rule"], "cluster": labels[home], "distance": distances[home],
            "duplicate_of": None if distinct[home]["id"] == record["id"] else distinct[home]["id"],
            "representative": record["id"] in representative_ids,
        })
    return rows


def _candidates(distinct: list[dict[str, Any]], labels: list[int],
                chosen: dict[int, int]) -> list[dict[str, Any]]:
    sizes = {c: labels.count(c) for c in chosen}
    return [
        {"id": stable_id("rule", distinct[i]["rule"]), "input_id": distinct[i]["pair_id"],
         "number": number, "rule": distinct[i]["rule"], "cluster": c,
         "cluster_size": sizes[c], "proposal_id": distinct[i]["id"]}
        for number, (c, i) in enumerate(sorted(chosen.items()), 1)
    ]
