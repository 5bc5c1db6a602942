"""Every error datagen shows a user.

Messages are one line and name the bad value (file, line, field, option) and what is
allowed. The CLI is the only place these become exit codes; tracebacks appear only with
``--debug`` or ``DATAGEN_DEBUG=1``.
"""

from __future__ import annotations

from collections.abc import Iterable


class DatagenError(Exception):
    """Base class: an error the user can act on."""

    exit_code = 1


class UsageError(DatagenError):
    """A bad command-line value, option or name."""

    exit_code = 2


class InvalidInput(DatagenError):
    """An input file or record that cannot be read as feedback data."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class NotFound(DatagenError):
    """A dataset, version, recipe, generator, backend or file that does not exist."""

    def __init__(self, kind: str, name: str, choices: Iterable[str] = ()):
        listed = sorted(choices)
        hint = f"; known: {', '.join(listed)}" if listed else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")
        self.kind = kind
        self.name = name


class InvalidName(UsageError):
    """A dataset or repository name that is not allowed."""


class InvalidOptions(UsageError):
    """Generator, trainer or backend options that do not validate."""


class CatalogBusy(DatagenError):
    """Another process holds the catalog's write lock for too long."""

    exit_code = 3


class CatalogError(DatagenError):
    """The catalog cannot be opened or a query over it failed."""


class BackendError(DatagenError):
    """A model backend cannot be started or keeps failing."""


class BackendUnavailable(BackendError):
    """A model server stopped answering (connection refused, engine dead) mid-build.

    Raised out of the backend so the whole build stops with one line instead of turning
    every remaining call into a failure row; answers already received stay cached.
    """


class BuildFailed(DatagenError):
    """A build stopped; no version was written."""


class PluginError(DatagenError):
    """A plugin registered something invalid or conflicting."""


class MissingExtra(DatagenError):
    """An optional dependency group is needed for this command."""

    def __init__(self, extra: str, what: str):
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'datagen[{extra}]'")
        self.extra = extra
