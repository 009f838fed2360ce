"""PCRLv2's torch side: the model from its options, its inputs (one pyramid scale per step), the export."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ctssl.methods.base import Training
from ctssl.methods.pcrlv2.defaults import PCRLv2Options
from ctssl.methods.pcrlv2.model import PCRLv2
from ctssl.methods.pcrlv2.views import pcrlv2_inputs
from ctssl.models.nsunet import NonSkipUNet


def _build(options: PCRLv2Options) -> nn.Module:
    return PCRLv2(options.widths)


def _inputs(
    batch: dict[str, Any],
    options: PCRLv2Options,
    device: torch.device,
    generator: torch.Generator,
    shared: torch.Generator,
) -> dict[str, Any]:
    scale = int(torch.randint(0, NonSkipUNet.SCALES, (1,), generator=shared))  # the same scale on every rank
    return pcrlv2_inputs(batch, device, generator, scale)


def _export(model: nn.Module, options: PCRLv2Options) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``conv_0``, ``down_1`` .. ``down_4`` keys of MONAI's BasicUNet."""
    assert isinstance(model, PCRLv2)
    weights = {key: value.detach().cpu() for key, value in model.encoder.state_dict().items()}
    target = {
        "class": "monai.networks.nets.BasicUNet",
        "kwargs": {
            "spatial_dims": 3,
            "in_channels": 1,
            "features": [*options.widths, options.widths[0]],
            "norm": "batch",
            "act": "relu",
        },
        "load": "model.load_state_dict(torch.load(path), strict=False)  # conv_0, down_1 .. down_4",
    }
    return weights, target


# Heads of the scales not drawn in a step get no gradient.
TRAINING = Training(build=_build, inputs=_inputs, export=_export, find_unused_parameters=True)
