"""The bundled backends, registered through the same hook as third-party ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from datagen import hookimpl


@hookimpl
def datagen_register_backends(register: Callable[[type[Any]], None]) -> None:
    from datagen.engine.backends.llamacpp import EmbeddedBackend, GGUFBackend
    from datagen.engine.backends.openai import OpenAIBackend
    from datagen.engine.backends.vllm import VLLMBackend

    for backend in (EmbeddedBackend, GGUFBackend, OpenAIBackend, VLLMBackend):
        register(backend)
