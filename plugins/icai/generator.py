"""The ICAI generators: a constitution from preferences, and pairs labeled by a constitution.

``icai-constitution`` runs five stages: read the pairs (whole), propose rules (batches),
cluster and deduplicate them (whole), vote every pair against the candidates (batches),
then filter, rank and re-cluster into at most n rules (whole): the constitution.
``icai-annotate`` has a judge follow a constitution to label pairs (training data).
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from datagen.errors import InvalidInput
from datagen.generator import BatchOutput, Generator, GeneratorContext, Stage
from datagen.roles import Role
from datagen.steps import StepKit

from .cluster import cluster
from .judge import judge_pairs
from .options import AnnotateOptions, ConstitutionOptions
from .pairs import EMPTY_TEXT, Pair, read_pairs, resolve_columns
from .propose import propose
from .select import select
from .vote import vote

CITATION = """@inproceedings{findeis2025inverse,
  title     = {Inverse Constitutional {AI}: Compressing Preferences into Principles},
  author    = {Findeis, Arduin and Kaufmann, Timo and H{\\"u}llermeier, Eyke
               and Albanie, Samuel and Mullins, Robert},
  booktitle = {International Conference on Learning Representations},
  year      = {2025}
}"""


def input_pairs(frame: pl.DataFrame, options: Any, *, need_label: bool) -> list[Pair]:
    where = "input"
    mapping = resolve_columns(frame.columns, options, need_label=need_label, where=where)
    return read_pairs(frame.to_dicts(), mapping, options, where)


def in_split(frame: pl.DataFrame, options: AnnotateOptions) -> pl.DataFrame:
    if options.split is None:
        return frame
    if options.split_column not in frame.columns:
        raise InvalidInput(f"no column {options.split_column!r} to select split"
                           f" {options.split!r}; the input has {', '.join(frame.columns)}",
                           path="input")
    return frame.filter(pl.col(options.split_column) == options.split)


class Constitution(Generator):
    """Rules proposed per pair, clustered, voted on by every pair, filtered and ranked."""

    name: ClassVar[str] = "icai-constitution"
    description: ClassVar[str] = (
        "A short constitution of rules that reconstructs pairwise preference labels (ICAI)"
    )
    Options = ConstitutionOptions
    output_schema: ClassVar[str] = "constitution"
    step_schemas: ClassVar[dict[str, Any]] = {
        "pairs": "icai-pair", "proposals": "icai-proposal", "clusters": "icai-cluster",
        "candidates": "icai-candidate", "votes": "icai-vote",
        "filter_decisions": "icai-filter-decision",
    }
    roles: ClassVar[tuple[Role, ...]] = (
        Role("proposer", "proposes rules that explain each preference"),
        Role("voter", "says which text each candidate rule selects"),
        Role("embedder", "embeds rules to cluster them"),
    )
    batch_size: ClassVar[int] = 8
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-classification",)

    options: ConstitutionOptions

    def stages(self) -> list[Stage]:
        o = self.options
        return [
            Stage("read_pairs", self.read, whole=True),
            Stage("propose", lambda f, c: propose(o, f, c), over="pairs"),
            Stage("cluster", lambda f, c: cluster(o, f, c), over="proposals", whole=True,
                  reads=("pairs",)),
            Stage("vote", lambda f, c: vote(o, f, c), over="pairs", reads=("candidates",)),
            Stage("select", lambda f, c: select(o, f, c), over="votes", whole=True,
                  reads=("candidates",)),
        ]

    def read(self, frame: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        """The ``pairs`` table; a build that cannot reach k clusters stops here."""
        pairs = input_pairs(frame, self.options, need_label=True)
        self.check_enough(pairs)
        kit = StepKit(ctx)
        kit.record("pairs", [p.record(self.options.seed) for p in pairs])
        return kit.out

    def check_enough(self, pairs: list[Pair]) -> None:
        used = sum(p.used for p in pairs)
        k = self.options.cluster_count(used)
        most = used * self.options.rules_per_pair
        if used == 0 or most < k:
            raise InvalidInput(
                f"{used} usable pairs ({len(pairs) - used} ties or unlabeled) give at most"
                f" {most} proposed rules, fewer than the {k} clusters asked for; give more"
                " pairs or a smaller -o clusters", path="input")


class Annotate(Generator):
    """A judge that follows a constitution picks the better text of each pair."""

    name: ClassVar[str] = "icai-annotate"
    description: ClassVar[str] = (
        "Preference pairs labeled by a judge following a constitution (ICAI's annotator)"
    )
    Options = AnnotateOptions
    output_schema: ClassVar[str] = "constitutional-pref"
    step_schemas: ClassVar[dict[str, Any]] = {"judgments": "icai-judgment"}
    roles: ClassVar[tuple[Role, ...]] = (Role("judge", "picks a text following the rules"),)
    batch_size: ClassVar[int] = 8
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-classification",)

    options: AnnotateOptions

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        batch = in_split(batch, self.options)
        pairs = input_pairs(batch, self.options, need_label=self.options.labels_required)
        kit = StepKit(ctx)
        judged = [p for p in pairs if p.skip_reason != EMPTY_TEXT]
        for pair in pairs:
            if pair.skip_reason == EMPTY_TEXT:
                kit.fail("judgments", pair.id, f"pair not judged: {EMPTY_TEXT}")
        judgments = judge_pairs(kit, self.options, judged, self.options.rules)
        kit.record("judgments", judgments)
        kit.out.rows.extend(_labeled_row(p, j, self.options.rules)
                            for p, j in zip(judged, judgments, strict=True) if j["pick"])
        return kit.out


def _labeled_row(pair: Pair, judgment: dict[str, Any], rules: tuple[str, ...]) -> dict[str, Any]:
    chosen, rejected = ((pair.text_a, pair.text_b) if judgment["pick"] == "a"
                        else (pair.text_b, pair.text_a))
    return {"id": pair.id, "prompt": pair.prompt, "chosen": chosen, "rejected": rejected,
            "preferred": judgment["pick"], "label": pair.preferred,
            "agrees": judgment["agrees"], "rules": list(rules)}
