"""The Hub plugin's errors (one-line messages naming the repo, the step and the status)."""

from __future__ import annotations

from datagen.errors import DatagenError


class HubError(DatagenError):
    """The Hugging Face Hub refused or failed a publish or pull (nothing was tagged)."""


class HubAuthError(HubError):
    """No Hub token was found, or the Hub rejected it."""
