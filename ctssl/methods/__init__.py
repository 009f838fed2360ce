"""The pre-training methods, in one table: the CLI, the demo and the training loop take them from here.

A method is one package, ctssl/methods/<name>/: ``__init__`` (its Method: CLI
flags, sampler, smallest batch; no torch), ``defaults`` (options with the
paper's values, a CPU-sized variant, optimisation defaults), ``model``,
``losses``, ``views`` (window, crops, augmentation) and ``training`` (build,
inputs, per-step hook, export). Adding one is a package and a line below.
"""

from __future__ import annotations

from typing import Any

from ctssl.methods import joint2d3d, pcrlv2, voco
from ctssl.methods.base import Method, MethodOptions, Optimisation, Recipe, Training

METHODS: dict[str, Method[Any]] = {method.name: method for method in (voco.METHOD, pcrlv2.METHOD, joint2d3d.METHOD)}


def find_method(name: str) -> Method[Any]:
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}: expected one of {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Method", "MethodOptions", "Optimisation", "Recipe", "Training", "find_method"]
