"""datagen: generate, version, query, publish and train on LLM feedback data.

Importing this package is cheap: heavy modules (the catalog, the engine, torch) load only
when a function that needs them is called.
"""

from datagen.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
