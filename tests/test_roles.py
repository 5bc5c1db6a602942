"""Named model roles: recipes map roles to specs, -m overrides, a missing role is an error."""

from __future__ import annotations

import pytest

from datagen.errors import InvalidInput, UsageError
from datagen.roles import DEFAULT_SPEC, Role, resolve_roles

ROLES = (Role("agents", many=True), Role("judge"), Role("aggregator"))


def test_nothing_named_anywhere_gives_every_role_the_embedded_default():
    assert resolve_roles(ROLES) == {name: (DEFAULT_SPEC,) for name in ("agents", "judge",
                                                                        "aggregator")}


def test_one_recipe_spec_plays_every_role():
    assert resolve_roles(ROLES, "gguf:/m.gguf")["judge"] == ("gguf:/m.gguf",)


def test_recipe_table_and_cli_role_overrides():
    recipe = {"agents": ["a1", "a2"], "judge": "j", "aggregator": "g"}
    roles = resolve_roles(ROLES, recipe, ["judge=openai:m@http://127.0.0.1:9/v1?seed=off"])
    assert roles == {
        "agents": ("a1", "a2"),
        "judge": ("openai:m@http://127.0.0.1:9/v1?seed=off",),
        "aggregator": ("g",),
    }


def test_repeated_list_role_on_the_command_line_replaces_then_appends():
    roles = resolve_roles(ROLES, {"agents": ["x"], "judge": "j", "aggregator": "g"},
                          ["agents=m1", "agents=m2", "agents=m3"])
    assert roles["agents"] == ("m1", "m2", "m3")


def test_a_plain_spec_on_the_command_line_replaces_the_recipe_for_every_role():
    roles = resolve_roles(ROLES, {"agents": ["x"], "judge": "j", "aggregator": "g"},
                          ["embedded", "judge=gguf:/judge.gguf"])
    assert roles == {"agents": ("embedded",), "judge": ("gguf:/judge.gguf",),
                     "aggregator": ("embedded",)}


def test_a_role_without_a_model_is_an_error_naming_it_never_a_silent_reuse():
    with pytest.raises(UsageError, match="role 'aggregator' has no model: add -m aggregator="):
        resolve_roles(ROLES, {"agents": ["a"], "judge": "j"})
    with pytest.raises(UsageError, match="role 'agents' has no model"):
        resolve_roles(ROLES, None, ["judge=j", "aggregator=g"])


def test_unknown_roles_and_bad_values_are_one_line_errors():
    with pytest.raises(UsageError, match="unknown model role 'judgee'; roles: agents\\[\\], judge"):
        resolve_roles(ROLES, None, ["judgee=embedded"])
    with pytest.raises(UsageError, match="2 plain model specs"):
        resolve_roles(ROLES, None, ["embedded", "embedded"])
    with pytest.raises(UsageError, match="takes one model"):
        resolve_roles(ROLES, None, ["embedded", "judge=a", "judge=b"])
    with pytest.raises(InvalidInput, match="role 'judge' takes one model, got 2"):
        resolve_roles(ROLES, {"judge": ["a", "b"]})
    with pytest.raises(InvalidInput, match="table of ROLE = SPEC"):
        resolve_roles(ROLES, ["a", "b"])
    with pytest.raises(UsageError, match="no model spec after"):
        resolve_roles(ROLES, None, ["judge="])


def test_specs_with_equals_signs_in_parameters_are_specs_not_roles():
    spec = "openai:m@http://127.0.0.1:8000/v1?timeout=5"
    assert resolve_roles(ROLES, None, [spec])["judge"] == (spec,)


def test_a_generator_without_roles_needs_no_model():
    assert resolve_roles((), None, ["embedded"]) == {}


def test_the_cli_names_a_bad_role_before_any_model_loads(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "datagen", "build", "critique-sft", "-m", "judgee=embedded"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: unknown model role 'judgee'; roles: agents[], ci, judge, aggregator"
    )


def test_show_names_each_model_once_with_the_roles_it_served():
    from datagen.commands.catalog import _models_and_roles

    entry = {"spec": "embedded", "model": "SmolLM2", "license": "Apache-2.0", "identity": "sha"}
    models = [{**entry, "role": "agents", "index": i} for i in range(4)]
    models += [{**entry, "role": "judge"}, {"spec": "gguf:/j.gguf", "role": "aggregator"}]
    assert _models_and_roles(models) == [
        ("embedded SmolLM2 Apache-2.0 sha", "agents x4, judge"),
        ("gguf:/j.gguf", "aggregator"),
    ]
