"""The MultiCritique generators: critiques from several agents, checked by a judge.

``multicritique`` writes aggregated critiques (``critique-sft``); ``multicritique-pref``
writes validated pairs of agents' critiques (``critique-pref``). They are peers: both run
the same steps up to the meta-critique (crucial.py, critics.py) over the same per-item
state, then each finishes its own way (aggregate.py, preference.py).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from datagen.generator import BatchOutput, Generator, GeneratorContext
from datagen.roles import Role
from datagen.steps import StepKit

from .aggregate import aggregate
from .critics import Severities, agent_critiques, meta_critique
from .crucial import crucial_info
from .inputs import Item, read_items
from .options import MultiCritiqueOptions
from .preference import preference

CITATION = """@article{lan2024training,
  title   = {Training Language Models to Critique With Multi-agent Feedback},
  author  = {Lan, Tian and Zhang, Wenwei and Lyu, Chengqi and Li, Shuaibin and Xu, Chen
             and Huang, Heyan and Lin, Dahua and Mao, Xian-Ling and Chen, Kai},
  journal = {arXiv preprint arXiv:2410.15287},
  year    = {2024}
}"""

SHARED_ROLES = (
    Role("agents", "critic agents, one critique each (several models for diversity)", many=True),
    Role("ci", "writes the crucial information: task description, criteria, reference"),
    Role("judge", "labels every critique unit L0-L6 (meta-critique)"),
)

SHARED_STEPS = {
    "crucial_info": "critique-crucial-info",
    "critique_units": "critique-unit",
    "meta_labels": "critique-meta-label",
    "agent_critiques": "critique-agent",
}


class _JudgedCritiques(Generator):
    """What both outputs share: crucial information, agents' critiques, meta-critique."""

    Options = MultiCritiqueOptions
    batch_size: ClassVar[int] = 8
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-generation",)

    options: MultiCritiqueOptions

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        items, failures = read_items(batch.to_dicts(), self.options)
        kit = StepKit(ctx, BatchOutput(failures=failures))
        crucial_info(kit, self.options, items)
        agent_critiques(kit, self.options, items)
        severities = meta_critique(kit, self.options, items)
        self.finish(kit, items, severities)
        return kit.out

    def finish(self, kit: StepKit, items: list[Item], severities: Severities) -> None:
        raise NotImplementedError


class MultiCritique(_JudgedCritiques):
    """Several critic agents critique each (query, response); a judge labels every critique
    unit; an aggregator keeps the correct units, merges duplicates and scores the response."""

    name: ClassVar[str] = "multicritique"
    description: ClassVar[str] = (
        "Aggregated critiques from several agents, checked by a judge (MultiCritique SFT data)"
    )
    output_schema: ClassVar[str] = "critique-sft"
    step_schemas: ClassVar[dict[str, str]] = {**SHARED_STEPS, "final_critiques": "critique-final"}
    roles: ClassVar[tuple[Role, ...]] = (
        *SHARED_ROLES,
        Role("aggregator", "merges the judged units into the final critique and scores it"),
    )

    def finish(self, kit: StepKit, items: list[Item], severities: Severities) -> None:
        aggregate(kit, self.options, items)


class MultiCritiquePref(_JudgedCritiques):
    """Pairs of agents' critiques whose judged severities differ by the gap, kept only when
    revising along the chosen critique scores higher (MultiCritique preference data)."""

    name: ClassVar[str] = "multicritique-pref"
    description: ClassVar[str] = (
        "Preference pairs of critiques, validated by revisions (MultiCritique RL data)"
    )
    output_schema: ClassVar[str] = "critique-pref"
    step_schemas: ClassVar[dict[str, str]] = {
        **SHARED_STEPS,
        "revisions": "critique-revision",
        "preference_pairs": "critique-pair",
    }
    roles: ClassVar[tuple[Role, ...]] = (
        *SHARED_ROLES,
        Role("revisers", "revise the response along each critique (MARV)", many=True),
        Role("scorer", "rates revisions that exact match cannot score"),
    )

    def finish(self, kit: StepKit, items: list[Item], severities: Severities) -> None:
        preference(kit, self.options, items, severities)
