"""Every count and threshold of Inverse Constitutional AI, with the paper's values as defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from datagen.generator import GeneratorOptions

RULE_PREFIX = "Select the response that"


class PairColumns(GeneratorOptions):
    """How to read pairs from the input. ``None`` means: find it by the usual names.

    TRL preference data (``prompt``/``chosen``/``rejected``) needs no mapping: ``chosen`` is
    text A and is the preferred one. Otherwise name the two texts and the column that says
    which is preferred; its values may name a text column, or be one of the labels below.
    """

    prompt_column: str | None = None
    text_a_column: str | None = None
    text_b_column: str | None = None
    preferred_column: str | None = None
    a_labels: tuple[str, ...] = ("a", "1", "text_a", "response_a", "model_a")
    b_labels: tuple[str, ...] = ("b", "2", "text_b", "response_b", "model_b")
    tie_labels: tuple[str, ...] = ("tie", "both", "equal", "none", "0")
    id_column: str | None = None
    flip_labels: bool = False  # the paper's "unaligned" set is the aligned one flipped


class MaxTokens(BaseModel):
    """Output budget per step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    propose: int = Field(96, ge=16)
    vote: int = Field(600, ge=16)
    judge: int = Field(24, ge=8)


class ConstitutionOptions(PairColumns):
    """Options of ``icai-constitution`` (paper defaults unless noted)."""

    rules_per_pair: int = Field(2, ge=1, le=10)  # N
    max_words: int = Field(10, ge=5)  # words per rule, the 4-word prefix included
    clusters: int | None = Field(None, ge=1)  # k; None: clusters_per_pair x usable pairs
    clusters_per_pair: float = Field(40 / 30, gt=0.0)  # paper: k = 40 for 30 pairs
    rules_per_vote: int = Field(40, ge=1)  # numbered rules shown in one voting call
    min_for_share: float = Field(0.1, ge=0.0, le=1.0)  # for >= this share of a rule's votes
    max_rules: int = Field(5, ge=1)  # n, the constitution's length
    shortlist_factor: float = Field(1.5, ge=1.0)  # the top factor x n go to the re-clustering
    kmeans_iterations: int = Field(100, ge=1)  # not in the paper: Lloyd iterations per run
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: MaxTokens = MaxTokens()

    @property
    def shortlist(self) -> int:
        return max(self.max_rules, int(self.shortlist_factor * self.max_rules))

    def cluster_count(self, pairs: int) -> int:
        """k: the ``clusters`` option, else ``clusters_per_pair`` x usable pairs."""
        if self.clusters is not None:
            return self.clusters
        return max(1, round(self.clusters_per_pair * pairs))


class AnnotateOptions(PairColumns):
    """Options of ``icai-annotate``: a judge labels pairs following a constitution."""

    rules: tuple[str, ...] = ()  # the constitution; empty: the judge follows no rules
    labels_required: bool = False  # unlabeled pairs are labeled; labeled ones also compared
    split: str | None = None  # only rows whose split_column has this value
    split_column: str = "split"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: MaxTokens = MaxTokens()
