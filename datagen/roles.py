"""Named model roles: which model plays which part in a generator.

A generator declares its roles (``agents`` as a list, ``judge``, ``reviser``...). A recipe
maps roles to model specs, and ``-m`` on the command line overrides it:

- ``-m SPEC`` gives every role that one model;
- ``-m ROLE=SPEC`` gives one role its model; repeat it to list several models for a list
  role (``-m agents=A -m agents=B``).

A role the generator needs but nobody named is an error naming the role, never a silent
reuse of another role's model. Only when no model is named anywhere (no recipe models and
no ``-m``) does every role get the embedded default.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datagen.errors import InvalidInput, UsageError

DEFAULT_SPEC = "embedded"
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

RoleSpecs = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Role:
    """One part a model plays in a generator."""

    name: str
    description: str = ""
    many: bool = False  # a list of models (critic agents, revisers), cycled over the work

    def __post_init__(self) -> None:
        if not _ROLE_NAME.match(self.name):
            raise ValueError(f"role name {self.name!r} must match {_ROLE_NAME.pattern}")


def resolve_roles(
    roles: Sequence[Role],
    recipe_models: Any = None,
    cli_models: Sequence[str] = (),
    *,
    where: str = "recipe",
) -> RoleSpecs:
    """Each needed role's model specs, from the recipe and the ``-m`` values."""
    if not roles:
        return {}
    by_name = {role.name: role for role in roles}
    assigned = _from_recipe(by_name, recipe_models, where)
    bare, pairs = _split_cli(by_name, cli_models)
    if bare is not None:
        assigned = {name: (bare,) for name in by_name}
    overridden: set[str] = set()
    for name, spec in pairs:
        if name in overridden and by_name[name].many:
            assigned[name] = assigned[name] + (spec,)
        elif name in overridden:
            raise UsageError(f"role {name!r} takes one model; -m {name}=... was given twice")
        else:
            assigned[name] = (spec,)
            overridden.add(name)
    if recipe_models is None and not cli_models:
        assigned = {name: (DEFAULT_SPEC,) for name in by_name}
    _require_all(roles, assigned)
    return {role.name: assigned[role.name] for role in roles}


def describe_roles(roles: Iterable[Role]) -> str:
    return ", ".join(f"{r.name}{'[]' if r.many else ''}" for r in roles)


def _from_recipe(by_name: Mapping[str, Role], models: Any, where: str) -> RoleSpecs:
    if models is None:
        return {}
    if isinstance(models, str):
        return {name: (models,) for name in by_name}
    if not isinstance(models, Mapping):
        raise InvalidInput(
            "'models' must be one model spec for every role or a table of ROLE = SPEC"
            f" (roles: {describe_roles(by_name.values())})",
            path=where,
        )
    assigned: RoleSpecs = {}
    for name, value in models.items():
        role = _known_role(by_name, name)
        specs = (value,) if isinstance(value, str) else tuple(value)
        if not specs or not all(isinstance(s, str) and s.strip() for s in specs):
            raise InvalidInput(f"models.{name} must be a model spec or a list of them", path=where)
        if len(specs) > 1 and not role.many:
            raise InvalidInput(f"role {name!r} takes one model, got {len(specs)}", path=where)
        assigned[name] = specs
    return assigned


def _split_cli(
    by_name: Mapping[str, Role], values: Sequence[str]
) -> tuple[str | None, list[tuple[str, str]]]:
    """``-m`` values as (the one bare spec or None, [(role, spec), ...])."""
    bare: list[str] = []
    pairs: list[tuple[str, str]] = []
    for value in values:
        head, sep, spec = value.partition("=")
        if sep and _ROLE_NAME.match(head.strip()):
            _known_role(by_name, head.strip())
            if not spec.strip():
                raise UsageError(f"-m {value!r}: no model spec after '='")
            pairs.append((head.strip(), spec.strip()))
        else:
            bare.append(value.strip())
    if len(bare) > 1:
        raise UsageError(
            f"-m was given {len(bare)} plain model specs; give one SPEC for every role or"
            f" ROLE=SPEC per role (roles: {describe_roles(by_name.values())})"
        )
    return (bare[0] if bare else None), pairs


def _known_role(by_name: Mapping[str, Role], name: str) -> Role:
    if name not in by_name:
        raise UsageError(f"unknown model role {name!r}; roles: {describe_roles(by_name.values())}")
    return by_name[name]


def _require_all(roles: Sequence[Role], assigned: RoleSpecs) -> None:
    for role in roles:
        if not assigned.get(role.name):
            raise UsageError(
                f"role {role.name!r} has no model: add -m {role.name}=SPEC (or -m SPEC for"
                f" every role, or models.{role.name} in the recipe)"
            )
