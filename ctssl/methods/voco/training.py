"""VoCo's torch side: the model from its options, its inputs, the EMA teacher after each step, the export."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ctssl.methods.base import Training
from ctssl.methods.voco.defaults import VoCoOptions
from ctssl.methods.voco.model import VoCo
from ctssl.methods.voco.views import voco_inputs


def _inputs(
    batch: dict[str, Any], device: torch.device, generator: torch.Generator, shared: torch.Generator
) -> dict[str, Any]:
    return voco_inputs(batch, device, generator)


def _update_teacher(model: nn.Module) -> None:
    assert isinstance(model, VoCo)
    model.update_teacher()


def _export(model: nn.Module, options: VoCoOptions) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``swinViT.*`` keys of MONAI's SwinUNETR."""
    assert isinstance(model, VoCo)
    weights = {f"swinViT.{key}": value.detach().cpu() for key, value in model.encoder.state_dict().items()}
    target = {
        "class": "monai.networks.nets.SwinUNETR",
        "kwargs": {
            "in_channels": 1,
            "feature_size": options.feature_size,
            "use_v2": options.use_v2,
            "window_size": options.window_size,
        },
        "load": "model.load_state_dict(torch.load(path), strict=False)  # every swinViT.* key",
    }
    return weights, target


TRAINING = Training(build=VoCo, inputs=_inputs, export=_export, after_step=_update_teacher)
