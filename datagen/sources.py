"""Input source kinds: what a build's ``--input`` may name besides a file or a dataset.

A plugin registers a ``Source`` subclass through ``datagen_register_sources``; its
``prefix`` is what users write before the colon (the Hub plugin registers ``hf``, so
``--input hf:ORG/NAME`` reaches it). Files and catalog datasets are the host's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class SourceTable:
    """What a source read: the rows, and the lineage entry that says exactly what was read."""

    table: pa.Table
    lineage: dict[str, Any]


class Source:
    """Base class of input source kinds; subclasses set ``prefix`` and implement ``read``."""

    prefix: ClassVar[str]
    description: ClassVar[str] = ""
    example: ClassVar[str] = ""

    def read(self, ref: str) -> SourceTable:
        """Read ``ref`` (the text after ``PREFIX:``) at a fixed revision."""
        raise NotImplementedError


def split_prefix(ref: str) -> tuple[str, str] | None:
    """``("hf", "org/name")`` for ``hf:org/name``; None when ``ref`` names no source kind.

    A one-letter prefix is a Windows drive, and anything with a path separator before the
    colon is a path, so neither is taken for a source kind.
    """
    head, sep, rest = ref.partition(":")
    if not sep or len(head) < 2 or not head.replace("-", "").replace("_", "").isalnum():
        return None
    return head.lower(), rest
