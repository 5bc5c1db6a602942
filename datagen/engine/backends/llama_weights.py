"""Which weights file llama.cpp runs: the GGUF as given, or a faster copy of the same weights.

llama.cpp's CPU backend multiplies Q8_0 and Q4_0 matrices with tiled kernels but Q4_1 one
dot product at a time, so a Q4_1 model decodes up to 1.9x slower than the same weights in
Q8_0 (bench/kernels.py). Q8_0 rounds each Q4_1 value by at most 1/254 of its block's
largest magnitude, a small fraction of a Q4_1 step: on the embedded model, perplexity on
2,000 tokens of English prose moved from 56.81 to 56.95 (Q4_0, the other fast type, moved it
to 69.1). So a Q4_1 file is converted once, into ``weights/`` under the datagen home (or
``$DATAGEN_WEIGHTS``), and the copy is what decodes. The backend's identity names the
conversion, so cached answers of the two never mix.

The file type is read from the GGUF header, without loading the model: an identity is
needed before the first call, and a fully cached build never loads the model.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path
from typing import BinaryIO

from datagen.errors import BackendError

# llama.cpp's file types (enum llama_ftype) this module reads or writes.
FTYPE_Q4_1 = 3
FTYPE_Q8_0 = 7
CONVERSIONS = {FTYPE_Q4_1: ("q8_0", FTYPE_Q8_0)}

# GGUF metadata value types: fixed sizes, and the two variable ones.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def conversion_for(path: Path) -> str | None:
    """The faster type this file is converted to (``"q8_0"``), or None to run it as is."""
    ftype = gguf_file_type(path)
    return None if ftype is None or ftype not in CONVERSIONS else CONVERSIONS[ftype][0]


def converted_path(home: Path, source_digest: str, conversion: str) -> Path:
    folder = os.environ.get("DATAGEN_WEIGHTS") or Path(home) / "weights"
    return Path(folder) / f"{source_digest[:24]}.{conversion}.gguf"


def ensure_converted(source: Path, target: Path, threads: int) -> Path:
    """Write ``target`` from ``source`` once; a half-written file is never left in place."""
    if target.is_file():
        return target
    ftype = gguf_file_type(source)
    if ftype not in CONVERSIONS:
        raise BackendError(f"{source}: no faster weight type is known for this file")
    from datagen.engine.backends.llama_model import llama_cpp_module

    lib = llama_cpp_module()
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, suffix=".partial")
    os.close(handle)
    try:
        params = lib.llama_model_quantize_default_params()
        params.ftype = CONVERSIONS[ftype][1]
        params.allow_requantize = True
        params.nthread = max(1, threads)
        if lib.llama_model_quantize(str(source).encode(), partial.encode(), params) != 0:
            raise BackendError(f"llama.cpp could not convert {source} to {target.name}")
        os.chmod(partial, 0o644)
        os.replace(partial, target)  # another process converting too writes the same bytes
    finally:
        Path(partial).unlink(missing_ok=True)
    return target


def gguf_file_type(path: Path) -> int | None:
    """``general.file_type`` from a GGUF header (None when the file does not say)."""
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise BackendError(f"{path} is not a GGUF file")
            _version, _tensors, entries = struct.unpack("<IQQ", _read(handle, 20))
            for _ in range(entries):
                key = _read_string(handle)
                (kind,) = struct.unpack("<I", _read(handle, 4))
                if key == b"general.file_type" and kind in (4, 5):
                    return int(struct.unpack("<I" if kind == 4 else "<i", _read(handle, 4))[0])
                _skip_value(handle, kind)
    except (OSError, struct.error) as exc:
        raise BackendError(f"cannot read the GGUF header of {path}: {exc}") from exc
    return None


def _read(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise BackendError(f"{handle.name}: the GGUF header ends early")
    return data


def _read_string(handle: BinaryIO) -> bytes:
    (size,) = struct.unpack("<Q", _read(handle, 8))
    return _read(handle, size)


def _skip_value(handle: BinaryIO, kind: int) -> None:
    if kind in _FIXED:
        handle.seek(_FIXED[kind], os.SEEK_CUR)
    elif kind == _STRING:
        (size,) = struct.unpack("<Q", _read(handle, 8))
        handle.seek(size, os.SEEK_CUR)
    elif kind == _ARRAY:
        item, count = struct.unpack("<IQ", _read(handle, 12))
        if item in _FIXED:
            handle.seek(_FIXED[item] * count, os.SEEK_CUR)
        else:
            for _ in range(count):
                _skip_value(handle, item)
    else:
        raise BackendError(f"{handle.name}: unknown GGUF value type {kind}")
