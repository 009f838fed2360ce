"""Pre-trained encoder weights as a plain state dict the fine-tuning model loads.

Each method says which keys and which model (its ``training.export``): VoCo ->
``swinViT.*`` keys of ``monai.networks.nets.SwinUNETR``; PCRLv2 ->
``conv_0``/``down_1``..``down_4`` keys of ``monai.networks.nets.BasicUNet``.
A JSON file beside the weights names the class, its arguments and the step.
Joint 2D/3D writes encoder.pt (a torchvision ResNet-50) and hybrid.pt
(``ctssl.models.hybrid.HybridEncoder``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from ctssl import checkpoint
from ctssl.methods import Method, MethodOptions, find_method

WEIGHTS = "encoder.pt"
DESCRIPTION = "encoder.json"


def write_export(method: Method[Any], model: nn.Module, options: MethodOptions, folder: Path, step: int) -> Path:
    """Write ``folder/encoder.pt`` (tensors only: loads with ``torch.load(weights_only=True)``) and its JSON.

    A method's further artifacts (``training.exports``) go beside it as ``<name>.pt`` and
    ``<name>.json``; encoder.json lists each with its description under ``also``.
    """
    training = method.training()
    folder.mkdir(parents=True, exist_ok=True)
    further = training.exports(model, options) if training.exports is not None else {}
    also = {
        name: _write(folder, name, weights, target, method.name, step) for name, (weights, target) in further.items()
    }
    weights, target = training.export(model, options)
    description = _write(folder, Path(WEIGHTS).stem, weights, target, method.name, step)
    if also:
        (folder / DESCRIPTION).write_text(json.dumps(description | {"also": also}, indent=2) + "\n")
    return folder / WEIGHTS


def _write(
    folder: Path, name: str, weights: dict[str, Any], target: dict[str, Any], method: str, step: int
) -> dict[str, Any]:
    """``name``.pt and ``name``.json; returns the description."""
    checkpoint.save(folder / f"{name}.pt", weights)
    description = {"method": method, "step": step, "weights": f"{name}.pt", "keys": len(weights), "target": target}
    (folder / f"{name}.json").write_text(json.dumps(description, indent=2) + "\n")
    return description


def export_checkpoint(path: Path, folder: Path) -> Path:
    """Export the encoder of a training checkpoint (e.g. of a run that has not finished)."""
    state = checkpoint.load(path)
    method = find_method(state["method"])
    options = method.options_from_dict(state["model_options"])
    model = method.training().build(options)
    model.load_state_dict(state["model"])
    return write_export(method, model, options, folder, state["step"])
