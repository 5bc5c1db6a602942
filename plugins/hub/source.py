"""Build inputs from the Hub: ``--input hf:ORG/NAME[@REVISION][:SPLIT]``."""

from __future__ import annotations

from typing import ClassVar

from datagen.sources import Source, SourceTable


class HubSource(Source):
    """A Hub dataset split, read at the commit its revision points to when the build starts."""

    prefix: ClassVar[str] = "hf"
    description: ClassVar[str] = "a Hugging Face Hub dataset, read at a fixed commit"
    example: ClassVar[str] = "hf:ORG/NAME[@REVISION][:SPLIT]"

    def read(self, ref: str) -> SourceTable:
        from datagen_plugins.hub.api import load_hub_table

        repo, _, split = ref.partition(":")
        repo, _, revision = repo.partition("@")
        table, sha = load_hub_table(repo, revision or None, split=split or None, config=None)
        lineage = {
            "kind": "hf",
            "repo": repo,
            "revision": revision or "main",
            "commit": sha,
            "split": split or "train",
        }
        return SourceTable(table, lineage)
