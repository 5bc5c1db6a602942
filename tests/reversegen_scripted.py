"""A scripted ReverseGen build for orchestration tests (also run as a script by the resume test).

The proposer writes numbered instructions; the target answers "hard" ones differently on
every sample (high entropy) and "easy" ones always the same. Training writes a config.json
into the keyed folder and logs the round to ``$REVERSEGEN_TRAIN_LOG``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from datagen.build import run_stages
from datagen.executor import LocalExecutor
from datagen.inputs import Input
from datagen.llm import ChatRequest
from datagen.testing import ScriptedModel, scripted_context
from datagen_plugins.reversegen.generator import FailureQueries


class MemorySink:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.steps: dict[str, list[dict]] = {}
        self.failures: list[Any] = []

    def write_rows(self, data: Any) -> None:
        self.rows.extend(data.to_pylist())

    def write_step(self, step: str, data: Any) -> None:
        self.steps.setdefault(step, []).extend(data.to_pylist())

    def write_failures(self, failures: list) -> None:
        self.failures.extend(failures)


class Quiet:
    def rows_done(self, n: int) -> None:
        pass


def propose(request: ChatRequest, tag: str = "") -> str:
    """Even samples are 'hard', odd ones 'easy'; sample 3 repeats sample 1 (a duplicate)."""
    k = 1 if request.sample_index == 3 else request.sample_index
    kind = "hard" if k % 2 == 0 else "easy"
    first_seed = request.messages[-1].content.splitlines()[2][3:20]
    return f"4. {kind} question number {k} {tag} about {first_seed}\n5. ignored"


def answer(request: ChatRequest) -> Any:
    text = request.messages[-1].content
    if request.step == "target":
        if "hard" in text and request.sample_index > 0:
            return f"The answer is {request.sample_index}."
        return "The answer is 42."
    if request.step == "solver":
        return "Answer: 42" if "easy" in text else "Answer: 7"
    if request.step == "oracle":
        return {"fails": "hard" in text.split("Answer:")[0], "reason": "scripted"}
    raise AssertionError(f"unexpected step {request.step!r}")


class ScriptedReverseGen(FailureQueries):
    """Trained proposers are scripted models; training is logged, not run."""

    opened: list[str]
    trained: list[tuple[int, str]]
    recorded: list[dict[str, Any]]
    models: dict[str, ScriptedModel]
    methods: list[str]

    def __init__(self, options: Any):
        super().__init__(options)
        self.opened, self.trained, self.recorded, self.methods = [], [], [], []

    @contextmanager
    def open_model(self, spec: str, home=None):
        self.opened.append(spec)
        if os.environ.get("REVERSEGEN_KILL_ON_OPEN"):
            os.kill(os.getpid(), signal.SIGKILL)
        yield ScriptedModel(lambda r: propose(r, tag=f"r{len(self.opened) + 1}"), spec=spec)

    def train_proposer(self, table: Any, parent: str, output: Path, settings: dict,
                       method: str = "dpo") -> dict:
        output.mkdir(parents=True, exist_ok=True)
        (output / "config.json").write_text("{}")
        round_no = len(self.trained) + 1
        self.trained.append((table.num_rows, parent))
        self.methods.append(method)
        log = os.environ.get("REVERSEGEN_TRAIN_LOG")
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"rows": table.num_rows, "parent": parent,
                                    "output": str(output)}) + "\n")
        return {"train_loss": 0.5 + round_no}

    def record_proposer(self, folder, parent, round_no, metrics, settings, method="dpo",
                        home=None) -> None:
        self.recorded.append({"folder": str(folder), "parent": parent, "round": round_no})


def seeds(n: int = 6) -> pl.DataFrame:
    return pl.DataFrame({"instruction": [f"Seed task {i}: add {i} and {i + 1}." for i in range(n)]})


def run(options: dict[str, Any], frame: pl.DataFrame | None = None,
        proposer_folder: str | None = None, home: Path | None = None):
    generator = ScriptedReverseGen(ScriptedReverseGen.parse_options(options))
    spec = f"vllm:{proposer_folder}" if proposer_folder else "scripted-proposer"
    models = {"proposer": ScriptedModel(propose, spec=spec),
              "target": ScriptedModel(answer, spec="scripted-target"),
              "oracle": ScriptedModel(answer, spec="scripted-oracle"),
              "solver": ScriptedModel(answer, spec="scripted-solver")}
    generator.models = models
    ctx = scripted_context(generator, models, home=home)
    source = Input((seeds() if frame is None else frame).to_arrow(), {"kind": "test"})
    sink = MemorySink()
    run_stages(generator, source, None, ctx, LocalExecutor(), sink, Quiet())
    return generator, sink




def checker(instruction: str) -> str | None:
    """A user-supplied reference: 42 for easy questions, 7 for hard ones, none otherwise."""
    if "easy" in instruction:
        return "42"
    return "7" if "hard" in instruction else None


if __name__ == "__main__":
    generator, sink = run(json.loads(sys.argv[1]), proposer_folder=sys.argv[2])
    print(json.dumps({"opened": generator.opened, "rounds": sink.steps["rounds"]}, default=str))
