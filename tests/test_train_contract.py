"""The trainer contract and every check that runs before training (no torch needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from datagen.errors import InvalidInput, InvalidOptions, NotFound, UsageError
from datagen.plugins import trainers
from datagen.training import (
    PREFERENCE_FORMATS,
    SFT_FORMATS,
    DatasetSource,
    LossTerm,
    TrainResult,
    check_model,
    check_output,
    detect_format,
    model_card,
    train,
)
from datagen_plugins.trainer.commands import parse_overrides

MESSAGES = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_bundled_trainers_are_registered():
    assert {"sft", "dpo", "rm", "mixed"} <= set(trainers().items)
    assert trainers().owners["sft"] == "trainer"


def test_conversational_and_plain_formats_are_detected():
    conversational = pa.table({"messages": [MESSAGES]})
    plain = pa.table({"prompt": ["2+2?"], "completion": ["4"], "id": ["a"]})
    pairs = pa.table({"prompt": ["q"], "chosen": ["good"], "rejected": ["bad"]})
    assert detect_format(conversational, SFT_FORMATS, "d@1").name == "conversational"
    assert detect_format(plain, SFT_FORMATS, "d@1").name == "prompt-completion"
    assert detect_format(pairs, PREFERENCE_FORMATS, "d@1").name == "preference"


def test_sft_data_without_messages_names_the_dataset_and_the_formats():
    with pytest.raises(InvalidInput, match=r"critique-sft@2 has columns id, text.*messages"):
        detect_format(pa.table({"id": ["a"], "text": ["x"]}), SFT_FORMATS, "critique-sft@2")


def test_chosen_without_rejected_is_refused():
    table = pa.table({"prompt": ["q"], "chosen": ["good"]})
    with pytest.raises(InvalidInput, match="prompt\\+chosen\\+rejected"):
        detect_format(table, PREFERENCE_FORMATS, "prefs@1")


def test_empty_dataset_is_refused():
    table = pa.table({"messages": pa.array([], type=pa.list_(pa.struct(
        [("role", pa.string()), ("content", pa.string())])))})
    with pytest.raises(InvalidInput, match="no rows"):
        detect_format(table, SFT_FORMATS, "empty@1")


def test_null_and_non_text_cells_are_refused():
    with pytest.raises(InvalidInput, match="'rejected' has 1 null"):
        detect_format(pa.table({"chosen": ["a"], "rejected": pa.array([None], pa.string())}),
                      PREFERENCE_FORMATS, "p@1")
    with pytest.raises(InvalidInput, match="'completion' is int64"):
        detect_format(pa.table({"prompt": ["a"], "completion": [3]}), SFT_FORMATS, "p@1")


def test_unknown_option_lists_the_allowed_ones():
    with pytest.raises(InvalidOptions, match=r"learning_rat.*allowed:.*learning_rate"):
        trainers().get("sft")().parse_options({"learning_rat": 1e-4})
    with pytest.raises(InvalidOptions, match="beta"):
        trainers().get("dpo")().parse_options({"beta": -1})


def test_dpo_and_mixed_declare_their_loss():
    dpo = trainers().get("dpo")()
    assert dpo.loss(dpo.parse_options({"beta": 0.2})) == [LossTerm("dpo", params={"beta": 0.2})]
    mixed = trainers().get("mixed")()
    terms = mixed.loss(mixed.parse_options({}))
    assert [(t.objective, t.rows, t.weight) for t in terms] == [
        ("dpo", "in_scope", 1.0), ("nll", "out_of_scope", 0.2), ("nll", "near_scope", 0.1)]
    with pytest.raises(InvalidOptions, match="objective 'kl'"):
        mixed.loss(mixed.parse_options({"terms": [{"objective": "kl"}]}))


def test_missing_model_folder_is_refused(tmp_path: Path):
    with pytest.raises(NotFound, match="model folder"):
        check_model(tmp_path / "no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFound, match="no config.json"):
        check_model(tmp_path / "empty")
    hub_id = "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert check_model(hub_id) == hub_id


def test_output_folder_holding_a_model_is_refused(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UsageError, match="already holds a model"):
        check_output(tmp_path)
    assert check_output(tmp_path / "new") == (tmp_path / "new").resolve()


def test_bad_input_fails_before_the_trainer_runs(tmp_path: Path, monkeypatch):
    def explode(self, job):
        raise AssertionError("run must not start")

    monkeypatch.setattr(trainers().get("sft"), "run", explode)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(InvalidInput, match="messages"):
        train("sft", model=model, output=tmp_path / "out", data=pa.table({"x": ["y"]}))
    with pytest.raises(NotFound):
        train("sft", model=tmp_path / "nope", output=tmp_path / "out",
              data=pa.table({"messages": [MESSAGES]}))
    with pytest.raises(NotFound, match="trainer 'ppo'"):
        train("ppo", model=model, output=tmp_path / "out", data=pa.table({"messages": [MESSAGES]}))


def test_mixed_rows_need_the_kinds_their_terms_use(tmp_path: Path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    table = pa.table({"prompt": ["q"], "chosen": ["a"], "rejected": ["b"], "kind": ["other"]})
    with pytest.raises(InvalidInput, match="no rows of kind in_scope, near_scope, out_of_scope"):
        train("mixed", model=model, output=tmp_path / "out", data=table)


def test_model_card_names_dataset_recipe_hyperparameters_and_metrics(tmp_path: Path):
    source = DatasetSource("critique-sft@3", "critique-sft", 3, "critique-sft",
                           "[critique-sft]\ngenerator = 'x'", "multicritique", "ab12cd34")
    result = TrainResult("sft", tmp_path / "m", "base/model", source, {"learning_rate": 1e-4},
                         {"final_loss": 1.25}, started_at="2026-01-01T00:00:00+00:00")
    card = model_card(result, [LossTerm("nll")])
    assert "critique-sft@3" in card and "generator = 'x'" in card and "ab12cd34" in card
    assert "| learning_rate | 0.0001 |" in card and "| final_loss | 1.25 |" in card
    record = result.record("trainer")
    assert (record["dataset"], record["version"], record["method"]) == ("critique-sft", 3, "sft")
    assert record["metrics"] == {"final_loss": 1.25}


def test_overrides_are_read_as_json_when_they_parse():
    assert parse_overrides(("learning_rate=1e-4", "lora=true", "lr_scheduler=cosine")) == {
        "learning_rate": 1e-4, "lora": True, "lr_scheduler": "cosine"}
    with pytest.raises(UsageError, match="key=value"):
        parse_overrides(("oops",))


def test_train_help_lists_every_method():
    from datagen_plugins.trainer.commands import train as train_group

    result = CliRunner().invoke(train_group, ["--help"])
    assert result.exit_code == 0, result.output
    for method in ("sft", "dpo", "rm", "mixed"):
        assert method in result.output
    sft = CliRunner().invoke(train_group, ["sft", "--help"])
    assert "--dataset" in sft.output and "--lora" in sft.output


def test_cli_reports_a_missing_model_folder_in_one_line(tmp_path: Path):
    from datagen.cli import cli

    result = CliRunner().invoke(cli, ["train", "sft", "--dataset", "x@1", "--model",
                                      str(tmp_path / "absent"), "--output", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "model folder" in result.output and "Traceback" not in result.output


def test_importing_datagen_and_the_plugin_never_imports_torch():
    code = (
        "import sys, datagen, datagen.training, datagen_plugins.trainer\n"
        "from click.testing import CliRunner\n"
        "from datagen.cli import cli\n"
        "for args in (['--help'], ['train', '--help'], ['train', 'dpo', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "from datagen.plugins import trainers; trainers()\n"
        "from datagen_plugins.trainer import commands, methods\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_models_list_shows_where_each_model_came_from(tmp_path: Path):
    from datagen.catalog import Catalog
    from datagen_plugins.trainer.commands import models

    source = DatasetSource("critique-sft@2", "critique-sft", 2)
    result = TrainResult("dpo", tmp_path / "m1", "base", source, {}, {"final_loss": 0.5})
    with Catalog.open(None) as cat:
        cat.append_record("models", result.record("trainer"))
    listed = CliRunner().invoke(models, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "critique-sft@2" in listed.output and str(tmp_path / "m1") in listed.output


def test_missing_train_extra_names_the_extra(monkeypatch):
    from datagen.errors import MissingExtra
    from datagen_plugins.trainer import hf, speed

    monkeypatch.setattr(speed, "has_module", lambda name: name != "trl")
    with pytest.raises(MissingExtra, match=r"no module 'trl'.*datagen\[train\]"):
        hf.require_stack()


class _Stop(Exception):
    """Raised in place of training, to look at the job the checks built."""


def _job_for(monkeypatch, tmp_path: Path, table: pa.Table, **options):
    from datagen_plugins.trainer.methods import MixedTrainer

    seen = {}

    def capture(self, job):
        seen["job"] = job
        raise _Stop

    monkeypatch.setattr(MixedTrainer, "run", capture)
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text("{}")
    with pytest.raises(_Stop):
        train("mixed", model=model, output=tmp_path / "out", data=table, options=options)
    return seen["job"]


C3PO_ROWS = pa.table({
    "prompt": ["a", "b", "c", "d"], "chosen": ["x", "y", "z", "w"],
    "rejected": ["r", None, None, "s"],
    "kind": ["in_scope", "near_scope", "out_of_scope", "in_scope"],
    "split": ["train", "train", "train", "test"],
})


def test_c3po_rows_get_the_papers_setting_and_only_the_train_split(monkeypatch, tmp_path):
    job = _job_for(monkeypatch, tmp_path, C3PO_ROWS)
    options = job.options
    assert (options.lora_r, options.lora_alpha, options.learning_rate) == (64, 128, 5e-5)
    assert job.table.column("prompt").to_pylist() == ["a", "b", "c"]  # the test row is held out
    mine = _job_for(monkeypatch, tmp_path, C3PO_ROWS, lora_r=8, split=None)
    assert (mine.options.lora_r, mine.options.lora_alpha) == (8, 128)  # the user's value wins
    assert mine.table.num_rows == 4


def test_a_split_with_no_rows_and_rows_of_an_unused_kind_are_errors(monkeypatch, tmp_path):
    with pytest.raises(InvalidInput, match="no rows with split = 'dev' \\(found test, train\\)"):
        _job_for(monkeypatch, tmp_path, C3PO_ROWS, split="dev")
    odd = C3PO_ROWS.set_column(3, "kind", pa.array(["in_scope", "near_scope", "chitchat",
                                                    "in_scope"]))
    with pytest.raises(InvalidInput, match="row 2 has kind 'chitchat', which no loss term uses"):
        _job_for(monkeypatch, tmp_path, odd)
