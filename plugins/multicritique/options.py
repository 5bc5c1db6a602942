"""Every count, threshold and model role of MultiCritique, with the paper's values as defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.generator import GeneratorOptions

LABELS = ("L0", "L1", "L2", "L3", "L4", "L5", "L6")
SEVERITIES = ("Negligible", "Minor", "Moderate", "Severe")
IMPORTANCE = ("normal", "medium", "important")
DEFAULT_TEMPERATURES = {"ci": 0.0, "judge": 0.0, "aggregate": 0.0, "revision": 0.8, "score": 0.0}


class Persona(BaseModel):
    """How one critic agent differs from the others when they share a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    system: str
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
    """Output budget per step; small on purpose so the default build stays fast."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_description: int = Field(64, ge=8)
    criteria: int = Field(512, ge=16)
    reference: int = Field(128, ge=16)
    critique: int = Field(320, ge=16)
    meta_label: int = Field(48, ge=8)
    aggregate: int = Field(192, ge=16)
    revision: int = Field(256, ge=16)
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
    personas: tuple[Persona, ...] = DEFAULT_PERSONAS
    max_units_per_agent: int = Field(3, ge=1)  # not in the paper; bounds a critique's length

    # MARV validation: reviser r is model r of the `revisers` role (cycled)
    revisers: int = Field(4, ge=1)
    revision_samples: int = Field(8, ge=1)

    # meta-critique penalties L0..L6 and what the aggregation does with each label
    penalties: tuple[int, int, int, int, int, int, int] = (0, 5, 2, 1, 4, 4, 1)
    keep_labels: tuple[str, ...] = ("L0",)
    repair_labels: tuple[str, ...] = ("L2", "L3", "L6")

    # preference pairs
    severity_gap: int = Field(5, ge=0)
    score_min: int = 1
    score_max: int = 10
    math_exact_match: bool = True  # score math revisions by answer match when a reference exists

    # per role; agents take theirs from their persona. Unnamed roles keep DEFAULT_TEMPERATURES.
    temperatures: dict[str, float] = Field(default_factory=dict)
    max_tokens: MaxTokens = MaxTokens()

    @model_validator(mode="after")
    def _check(self) -> MultiCritiqueOptions:
        for label in (*self.keep_labels, *self.repair_labels):
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

    def persona(self, agent: int) -> Persona:
        return self.personas[agent % len(self.personas)]
