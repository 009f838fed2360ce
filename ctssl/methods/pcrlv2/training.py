"""PCRLv2's torch side: the model from its options, its inputs (the step's pyramid scales), the
deep-supervision weight of each step, the export."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ctssl.methods.base import Training
from ctssl.methods.pcrlv2.defaults import PCRLv2Options
from ctssl.methods.pcrlv2.model import PCRLv2
from ctssl.methods.pcrlv2.views import pcrlv2_inputs
from ctssl.models.nsunet import NonSkipUNet


def _inputs(
    batch: dict[str, Any],
    options: PCRLv2Options,
    device: torch.device,
    generator: torch.Generator,
    shared: torch.Generator,
) -> dict[str, Any]:
    # One scale for C(g1, g2), one for each C(g_m, l_i): the same on every rank, so every rank trains the same heads.
    scales = torch.randint(0, NonSkipUNet.SCALES, (1 + 2 * options.local_views,), generator=shared).tolist()
    return pcrlv2_inputs(batch, device, generator, scales)


def fade_deep_supervision(model: nn.Module, step: int, steps: int) -> dict[str, Any]:
    """beta = (1 + cos(pi step / steps)) / 2, the forward's ``deep_supervision_weight``: from 1 at the first step
    towards 0 at the last (the release's 0.5 (1 + cos(pi epoch / 240)) over its 240 epochs)."""
    return {"deep_supervision_weight": 0.5 * (1.0 + math.cos(math.pi * step / steps))}


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
TRAINING = Training(
    build=PCRLv2,
    inputs=_inputs,
    export=_export,
    before_forward=fade_deep_supervision,
    find_unused_parameters=True,
)
