"""Every count, threshold and model role of MultiCritique, with the paper's values as defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.generator import GeneratorOptions

LABELS = ("L0", "L1", "L2", "L3", "L4", "L5", "L6")
LABEL_NAMES = {
    "L0": "correct",
    "L1": "false alarm",
    "L2": "wrong criterion",
    "L3": "wrong severity",
    "L4": "wrong description",
    "L5": "wrong or harmful suggestion",
    "L6": "unhelpful suggestion",
}
SEVERITIES = ("Negligible", "Minor", "Moderate", "Severe")
IMPORTANCE = ("normal", "medium", "important")
# Agents with a model of their own sample at "critique"; agents sharing a model take their
# persona's temperature instead. Revisions sample as in the paper (1.0, with top-p 0.95).
DEFAULT_TEMPERATURES = {
    "ci": 0.0,
    "critique": 0.7,
    "judge": 0.0,
    "aggregate": 0.0,
    "revision": 1.0,
    "score": 0.0,
}
DEFAULT_TOP_P = {"revision": 0.95}
DEFAULT_TOP_K = {"revision": 50}


class Persona(BaseModel):
    """How one critic agent differs from the others when they share a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    system: str  # the role, stated at the end of the agent's critique prompt
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    seed: int = 0


DEFAULT_PERSONAS = (
    Persona(
        name="strict-reviewer",
        system="You are a strict reviewer. You check every claim and every step for errors.",
        temperature=0.2,
        seed=11,
    ),
    Persona(
        name="domain-expert",
        system="You are a domain expert. You judge correctness and depth of the content.",
        temperature=0.5,
        seed=22,
    ),
    Persona(
        name="user-advocate",
        system="You speak for the user. You judge whether the answer really helps them.",
        temperature=0.7,
        seed=33,
    ),
    Persona(
        name="editor",
        system="You are an editor. You judge clarity, structure and completeness.",
        temperature=0.9,
        seed=44,
    ),
)


class MaxTokens(BaseModel):
    """Output budget per step, at the paper's scale: long enough that a large model writing
    15 criteria, a full reference, ten units or a revision is never cut mid-sentence by a
    schema's ``maxLength``. Recipes for small models lower them (see the recipe comments)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_description: int = Field(256, ge=8)
    criteria: int = Field(3072, ge=16)
    reference: int = Field(2048, ge=16)
    critique: int = Field(3072, ge=16)
    meta_label: int = Field(512, ge=8)
    aggregate: int = Field(3072, ge=16)
    revision: int = Field(2048, ge=16)
    score: int = Field(16, ge=4)


class Columns(BaseModel):
    """Which input columns hold what; missing optional columns are simply absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "id"
    query: str = "query"
    response: str = "response"
    task_type: str = "task_type"
    criteria: str = "criteria"
    reference: str = "reference"


class MultiCritiqueOptions(GeneratorOptions):
    """Options of the ``multicritique`` generator (paper defaults unless noted)."""

    columns: Columns = Columns()
    default_task_type: str = "general"

    # crucial information
    max_criteria: int = Field(15, ge=1)
    max_fine_grained: int = Field(3, ge=1)
    max_primary: int = Field(5, ge=1)
    reference_skip_task_types: tuple[str, ...] = ("math", "code")

    # critic agents: agent i is model i of the `agents` role (cycled); personas cycle too
    agents: int = Field(4, ge=1)
    # personas tell apart agents that share one model; agents with a model of their own
    # (every agent a different spec, as in the paper) get none
    personas: tuple[Persona, ...] = DEFAULT_PERSONAS
    # the paper bounds no critique: one unit per flawed sentence; 10 only bounds the schema
    max_units_per_agent: int = Field(10, ge=1)

    # MARV validation: reviser r is model r of the `revisers` role (cycled); every reviser x
    # sample is its own call (its own seed and sample index) even when revisers share a model
    revisers: int = Field(4, ge=1)
    revision_samples: int = Field(8, ge=1)
    # per role, like temperatures; roles without one leave top-k to the backend's default
    top_p: dict[str, float] = Field(default_factory=dict)
    top_k: dict[str, int] = Field(default_factory=dict)

    # meta-critique penalties L0..L6 and what the aggregation does with each label: keep
    # correct units, repair those whose only fault is fixable (criterion, severity,
    # suggestion), drop false positives (L1) and misdescribed flaws (L4)
    penalties: tuple[int, int, int, int, int, int, int] = (0, 5, 2, 1, 4, 4, 1)
    keep_labels: tuple[str, ...] = ("L0",)
    repair_labels: tuple[str, ...] = ("L2", "L3", "L5", "L6")
    # labels saying the cited sentence really has a flaw (all but L1 "the sentence is fine"
    # and L4 "the flaw is not what the unit says"): an empty critique loses to any pair
    # partner when some unit of the response carries one of these
    flaw_labels: tuple[str, ...] = ("L0", "L2", "L3", "L5", "L6")

    # SFT conversation: "multi_turn" (the critic first writes the crucial information, then,
    # asked again, the critique) or "single_turn" (both in one assistant turn)
    sft_turns: Literal["multi_turn", "single_turn"] = "multi_turn"

    # preference pairs: the paper has 19.7K pairs over 32.1K critiqued responses, so at most
    # one pair per input, the one with the largest severity gap
    severity_gap: int = Field(5, ge=0)
    max_pairs_per_input: int = Field(1, ge=1)
    score_min: int = 1
    score_max: int = 10
    math_exact_match: bool = True  # score math revisions by answer match when a reference exists

    # per role; agents take theirs from their persona. Unnamed roles keep DEFAULT_TEMPERATURES.
    temperatures: dict[str, float] = Field(default_factory=dict)
    max_tokens: MaxTokens = MaxTokens()

    @model_validator(mode="after")
    def _check(self) -> MultiCritiqueOptions:
        for label in (*self.keep_labels, *self.repair_labels, *self.flaw_labels):
            if label not in LABELS:
                raise ValueError(f"label {label!r} is not one of {', '.join(LABELS)}")
        if not self.personas:
            raise ValueError("personas must name at least one persona")
        if self.score_min >= self.score_max:
            raise ValueError("score_min must be below score_max")
        unknown = set(self.temperatures) - set(DEFAULT_TEMPERATURES)
        if unknown:
            raise ValueError(
                f"unknown temperature role {sorted(unknown)[0]!r};"
                f" allowed: {', '.join(sorted(DEFAULT_TEMPERATURES))}"
            )
        for name, roles in (("top_p", self.top_p), ("top_k", self.top_k)):
            for role in roles:
                if role not in DEFAULT_TEMPERATURES:
                    raise ValueError(f"unknown {name} role {role!r}")
        return self

    def penalty(self, label: str) -> int:
        return self.penalties[LABELS.index(label)]

    def penalties_by_label(self) -> dict[str, int]:
        return {label: self.penalty(label) for label in LABELS}

    @property
    def score_range(self) -> range:
        return range(self.score_min, self.score_max + 1)

    def temperature(self, role: str) -> float:
        return self.temperatures.get(role, DEFAULT_TEMPERATURES[role])

    def top_p_of(self, role: str) -> float:
        return self.top_p.get(role, DEFAULT_TOP_P.get(role, 1.0))

    def top_k_of(self, role: str) -> int | None:
        return self.top_k.get(role, DEFAULT_TOP_K.get(role))

    def persona(self, agent: int) -> Persona:
        return self.personas[agent % len(self.personas)]
