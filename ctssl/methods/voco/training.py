"""VoCo's torch side: the model from its options, its inputs, the EMA teacher before each step, the export."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ctssl.methods.base import Training
from ctssl.methods.voco.defaults import VoCoOptions
from ctssl.methods.voco.model import VoCo
from ctssl.methods.voco.views import voco_inputs


def _inputs(
    batch: dict[str, Any], options: VoCoOptions, device: torch.device, generator: torch.Generator, _: torch.Generator
) -> dict[str, Any]:
    return voco_inputs(batch, options, device, generator)


def update_teacher(model: nn.Module, step: int, steps: int) -> dict[str, Any]:
    """The EMA teacher projector follows the student before every forward (no extra forward arguments)."""
    assert isinstance(model, VoCo)
    model.update_teacher()
    return {}


def _export(model: nn.Module, options: VoCoOptions) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every encoder key of MONAI's SwinUNETR: ``swinViT.*`` and ``encoder1/2/3/4/10.*``."""
    assert isinstance(model, VoCo)
    weights = {key: value.detach().cpu() for key, value in model.encoder.state_dict().items()}
    target = {
        "class": "monai.networks.nets.SwinUNETR",
        "kwargs": {
            "in_channels": 1,
            "feature_size": options.feature_size,
            "use_v2": options.use_v2,
            "window_size": options.window_size,
        },
        "load": "model.load_state_dict(torch.load(path), strict=False)  # the whole encoder; decoder and out are new",
    }
    return weights, target


TRAINING = Training(build=VoCo, inputs=_inputs, export=_export, before_forward=update_teacher)
