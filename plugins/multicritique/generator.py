"""The MultiCritique generators: critiques from several agents, checked by a judge.

``multicritique`` writes aggregated critiques (``critique-sft``); ``multicritique-pref``
writes validated pairs of agents' critiques (``critique-pref``). Both run the same steps
up to the meta-critique and share every option.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from datagen.generator import BatchOutput, Generator, GeneratorContext

from .inputs import read_items
from .options import MultiCritiqueOptions
from .pipeline import Pipeline

CITATION = """@article{lan2024training,
  title   = {Training Language Models to Critique With Multi-agent Feedback},
  author  = {Lan, Tian and Zhang, Wenwei and Lyu, Chengqi and Li, Shuaibin and Xu, Chen
             and Huang, Heyan and Lin, Dahua and Mao, Xian-Ling and Chen, Kai},
  journal = {arXiv preprint arXiv:2410.15287},
  year    = {2024}
}"""

SHARED_STEPS = {
    "crucial_info": "critique-crucial-info",
    "critique_units": "critique-unit",
    "meta_labels": "critique-meta-label",
    "agent_critiques": "critique-agent",
}


class MultiCritique(Generator):
    """Several critic agents critique each (query, response); a judge labels every critique
    unit; an aggregator keeps the correct units, merges duplicates and scores the response."""

    name: ClassVar[str] = "multicritique"
    output: ClassVar[str] = "sft"
    description: ClassVar[str] = (
        "Aggregated critiques from several agents, checked by a judge (MultiCritique SFT data)"
    )
    Options = MultiCritiqueOptions
    output_schema: ClassVar[str] = "critique-sft"
    step_schemas: ClassVar[dict[str, str]] = {
        **SHARED_STEPS,
        "final_critiques": "critique-final",
    }
    batch_size: ClassVar[int] = 8
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-generation",)

    options: MultiCritiqueOptions

    def models_needed(self) -> int:
        return self.options.models_needed()

    def generate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        items, failures = read_items(batch.to_dicts(), self.options)
        out = Pipeline(self.options, ctx.models, self.output).run(items)
        out.failures[:0] = failures
        return out


class MultiCritiquePref(MultiCritique):
    """Pairs of agents' critiques whose judged severities differ by the gap, kept only when
    revising along the chosen critique scores higher (MultiCritique preference data)."""

    name: ClassVar[str] = "multicritique-pref"
    output: ClassVar[str] = "pref"
    description: ClassVar[str] = (
        "Preference pairs of critiques, validated by revisions (MultiCritique RL data)"
    )
    output_schema: ClassVar[str] = "critique-pref"
    step_schemas: ClassVar[dict[str, str]] = {
        **SHARED_STEPS,
        "revisions": "critique-revision",
        "preference_pairs": "critique-pair",
    }
