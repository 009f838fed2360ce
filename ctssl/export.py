"""Pre-trained encoder weights as a plain state dict the fine-tuning model loads.

Each method says which keys and which model (its ``training.export``): VoCo ->
``swinViT.*`` keys of ``monai.networks.nets.SwinUNETR``; PCRLv2 ->
``conv_0``/``down_1``..``down_4`` keys of ``monai.networks.nets.BasicUNet``.
A JSON file beside the weights names the class, its arguments and the step.
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
    """Write ``folder/encoder.pt`` (tensors only: loads with ``torch.load(weights_only=True)``) and its JSON."""
    weights, target = method.training().export(model, options)
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint.save(folder / WEIGHTS, weights)
    description: dict[str, Any] = {"method": method.name, "step": step, "keys": len(weights), "target": target}
    (folder / DESCRIPTION).write_text(json.dumps(description, indent=2) + "\n")
    return folder / WEIGHTS


def export_checkpoint(path: Path, folder: Path) -> Path:
    """Export the encoder of a training checkpoint (e.g. of a run that has not finished)."""
    state = checkpoint.load(path)
    method = find_method(state["method"])
    options = method.options_from_dict(state["model_options"])
    model = method.training().build(options)
    model.load_state_dict(state["model"])
    return write_export(method, model, options, folder, state["step"])
