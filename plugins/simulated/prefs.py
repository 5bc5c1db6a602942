"""``simulated-prefs``: preference labels from a pool of simulated annotators.

Stage ``pairs`` reads the whole input into pairs (pair columns, or two ``responses`` per
prompt); stage ``annotate`` routes each pair to one annotator by a seeded hash, asks it,
and replaces a seeded share of labels by a coin flip (``is_noisy``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from datagen.generator import BatchOutput, Generator, GeneratorContext, Stage, stable_id
from datagen.roles import Role
from datagen.steps import StepKit

from .annotate import Job, Judged, judge
from .logic import add_noise, route
from .options import PrefsOptions
from .pairs import Pair, read_pairs

CITATION = """@inproceedings{dubois2023alpacafarm,
  title     = {AlpacaFarm: A Simulation Framework for Methods that Learn from Human Feedback},
  author    = {Dubois, Yann and Li, Xuechen and Taori, Rohan and Zhang, Tianyi and
               Gulrajani, Ishaan and Ba, Jimmy and Guestrin, Carlos and Liang, Percy
               and Hashimoto, Tatsunori},
  booktitle = {Advances in Neural Information Processing Systems},
  year      = {2023}
}"""


class SimulatedPrefs(Generator):
    """Each pair goes to one annotator of the pool (seeded hash); a share of labels is noise."""

    name: ClassVar[str] = "simulated-prefs"
    description: ClassVar[str] = (
        "Preference labels from a pool of simulated annotators, with seeded label noise"
    )
    Options = PrefsOptions
    output_schema: ClassVar[str] = "simulated-pref"
    step_schemas: ClassVar[dict[str, Any]] = {
        "pairs": "simulated-pair", "judgements": "simulated-judgement",
    }
    roles: ClassVar[tuple[Role, ...]] = (
        Role("annotators", "the judges of the pool: annotator i is model i (cycled)", many=True),
    )
    batch_size: ClassVar[int] = 16
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-classification",)

    options: PrefsOptions

    def stages(self) -> list[Stage]:
        return [Stage("pairs", self.read, whole=True),
                Stage("annotate", self.annotate, over="pairs")]

    def read(self, frame: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        pairs, failures = read_pairs(frame.to_dicts(), self.options.columns)
        kit = StepKit(ctx, BatchOutput(failures=failures))
        kit.record("pairs", [p.as_record() for p in pairs])
        return kit.out

    def annotate(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        jobs = [Job(pair, k) for pair in (_pair(r) for r in batch.to_dicts())
                for k in self.annotators_for(pair)]
        for judged in judge(kit, self.options, jobs):
            if judged is not None:
                kit.out.rows.append(self.row(judged))
        return kit.out

    def annotators_for(self, pair: Pair) -> list[int]:
        pool = len(self.options.annotators)
        if self.options.routing == "every":
            return list(range(pool))
        return [route(pair.pair_id, self.options.seed, pool)]

    def row(self, judged: Judged) -> dict[str, Any]:
        pair, options = judged.job.pair, self.options
        annotator = options.annotators[judged.job.annotator].name
        noised = add_noise(judged.label, pair.pair_id, options.seed, options.noise_fraction)
        chosen, rejected = ((pair.output_1, pair.output_2) if noised.preference == 1
                            else (pair.output_2, pair.output_1))
        return {
            "id": stable_id("simulated-prefs", pair.pair_id, annotator, options.seed),
            "input_id": pair.pair_id,
            "instruction": pair.instruction,
            "output_1": pair.output_1,
            "output_2": pair.output_2,
            "annotator": annotator,
            "annotator_model": judged.model,
            "preference": noised.preference,
            "annotator_preference": judged.label,
            "is_noisy": noised.is_noisy,
            "shown_order": judged.shown,
            "reason": judged.reason,
            "raw_answer": judged.raw,
            "prompt": [{"role": "user", "content": pair.instruction}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }


def _pair(record: dict[str, Any]) -> Pair:
    return Pair(record["id"], record["instruction"], record["output_1"], record["output_2"])
