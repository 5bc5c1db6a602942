"""The ``feedback-prefs`` generator: C3PO data from high-level verbal feedback.

Stages (each writes a step table of the build):

1. ``feedbacks`` (whole input): content, domain and effect; the author derives missing ones.
2. ``categories`` (per feedback): categories a little broader than the domain.
3. ``candidates`` (per category): in-scope and near-scope prompts written by the author.
4. ``filter`` (all candidates at once): out-of-scope prompts drawn from a general pool,
   duplicates and prompts outside their intended scope dropped with the reason
   (``filter_decisions``), target counts, the seeded test split (``scoped_prompts``).
5. ``respond`` (per batch of kept prompts): the student's baselines, the author's revisions
   of in-scope baselines, and the rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import polars as pl

from datagen.errors import InvalidInput
from datagen.generator import BatchOutput, Generator, GeneratorContext, Stage
from datagen.roles import Role
from datagen.steps import StepKit

from . import feedbacks, filtering, prompting, responding
from .options import FeedbackPrefsOptions

BUNDLED_POOL = Path(__file__).parent / "catalog" / "data" / "general-prompts.jsonl"

CITATION = """@article{stephan2024rlvf,
  title   = {RLVF: Learning from Verbal Feedback without Overgeneralization},
  author  = {Stephan, Moritz and Khazatsky, Alexander and Mitchell, Eric and Chen, Annie S.
             and Hsu, Sheryl and Sharma, Archit and Finn, Chelsea},
  journal = {arXiv preprint arXiv:2402.10893},
  year    = {2024}
}"""


class FeedbackPrefs(Generator):
    """Prompts where one feedback applies, nearly applies and does not apply, with the
    model's own answers: revised pairs in scope, answers to keep elsewhere (C3PO)."""

    name: ClassVar[str] = "feedback-prefs"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = (
        "C3PO data: in-scope preference pairs and near-/out-of-scope answers to keep"
    )
    Options = FeedbackPrefsOptions
    output_schema: ClassVar[str] = "feedback-prefs"
    step_schemas: ClassVar[dict[str, Any]] = {
        "feedbacks": "c3po-feedback",
        "categories": "c3po-category",
        "candidates": "c3po-candidate",
        "filter_decisions": "c3po-filter-decision",
        "scoped_prompts": "c3po-scoped-prompt",
        "baselines": "c3po-baseline",
        "revisions": "c3po-revision",
    }
    roles: ClassVar[tuple[Role, ...]] = (
        Role("author", "derives domain and effect, writes categories and prompts, checks "
                       "scopes, revises in-scope baselines"),
        Role("student", "the model being adapted: answers every prompt (the baselines)"),
    )
    input_columns: ClassVar[tuple[str, ...]] = ("content",)
    batch_size: ClassVar[int] = 8
    citation: ClassVar[str | None] = CITATION
    task_categories: ClassVar[tuple[str, ...]] = ("text-generation",)

    options: FeedbackPrefsOptions

    def stages(self) -> list[Stage]:
        return [
            Stage("feedbacks", self.read_feedbacks, whole=True),
            Stage("categories", self.categories, over="feedbacks"),
            Stage("candidates", self.candidates, over="categories", reads=("feedbacks",),
                  batch_size=4),
            Stage("filter", self.filter, over="candidates", whole=True, reads=("feedbacks",)),
            Stage("respond", self.respond, over="scoped_prompts", reads=("feedbacks",),
                  batch_size=16),
        ]

    def read_feedbacks(self, frame: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        rows = feedbacks.input_rows(self.options, frame.to_dicts())
        feedbacks.describe_missing(kit, self.options, feedbacks.read_feedbacks(kit, rows))
        return kit.out

    def categories(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        prompting.categories(kit, self.options, batch.to_dicts())
        return kit.out

    def candidates(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        prompting.candidates(kit, self.options, batch.to_dicts(), _by_id(ctx, "feedbacks"))
        return kit.out

    def filter(self, frame: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        known = _by_id(ctx, "feedbacks")
        pool = read_pool(self.options.pool) if self.options.out_of_scope_prompts else []
        by_feedback: dict[str, list[filtering.Candidate]] = {fid: [] for fid in known}
        for candidate in filtering.from_records(frame.to_dicts()):
            by_feedback[candidate.feedback_id].append(candidate)
        for fid, found in by_feedback.items():
            found.extend(filtering.pool_candidates(self.options, fid, pool))
        filtering.filter_all(kit, self.options, by_feedback, known)
        return kit.out

    def respond(self, batch: pl.DataFrame, ctx: GeneratorContext) -> BatchOutput:
        kit = StepKit(ctx)
        scoped = batch.to_dicts()
        known = _by_id(ctx, "feedbacks")
        base = responding.baselines(kit, self.options, scoped)
        revised = responding.revisions(kit, self.options, scoped, base, known)
        kit.out.rows.extend(responding.rows(scoped, base, revised, known))
        return kit.out


def _by_id(ctx: GeneratorContext, step: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in ctx.table(step).to_dicts()}


def read_pool(path: str | None) -> list[str]:
    """The distinct prompts of a pool file (a ``prompt`` column); the bundled one by default."""
    from datagen.readers import read_file

    where = Path(path).expanduser() if path else BUNDLED_POOL
    if not where.exists():
        raise InvalidInput("pool file does not exist (option pool)", path=str(where))
    table = read_file(where)
    if "prompt" not in table.column_names:
        present = ", ".join(table.column_names)
        raise InvalidInput(f"the pool needs a 'prompt' column; it has {present}", path=str(where))
    texts = [t.strip() for t in table.column("prompt").to_pylist() if isinstance(t, str)]
    return list(dict.fromkeys(t for t in texts if t))
