"""The two pre-training methods behind one interface the training loop drives.

A method knows its paper defaults (ctssl.defaults), builds its model and crop sampler from the
run's options, turns a loader batch into the model's inputs on the device, and
exports the pre-trained encoder for fine-tuning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ctssl.defaults import DEFAULTS, TINY, Defaults, ModelOptions
from ctssl.methods.pcrlv2 import PCRLv2, pcrlv2_inputs
from ctssl.methods.voco import VoCo, voco_inputs
from ctssl.models.nsunet import NonSkipUNet
from ctssl.samplers.base import Sampler
from ctssl.samplers.subcrop import SubCropSampler
from ctssl.samplers.voco import VoCoSampler


@dataclass(frozen=True)
class Method:
    name: str
    defaults: Defaults
    build: Callable[[ModelOptions], nn.Module]
    sampler: Callable[[ModelOptions], Sampler]
    # (batch, device, per-rank generator, generator shared by all ranks) -> model keyword arguments
    inputs: Callable[[dict[str, Any], torch.device, torch.Generator, torch.Generator], dict[str, Any]]
    find_unused_parameters: bool  # DDP: heads of scales not drawn this step get no gradient
    min_batch_size: Callable[[ModelOptions], int]  # per process
    export: Callable[[nn.Module, ModelOptions], tuple[dict[str, torch.Tensor], dict[str, Any]]]


def _voco_model(options: ModelOptions) -> nn.Module:
    return VoCo(
        options.feature_size,
        options.use_v2,
        options.projection_dim,
        options.regularization_weight,
        options.teacher_momentum,
        options.window_size,
    )


def _voco_export(model: nn.Module, options: ModelOptions) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
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


def _pcrlv2_inputs(
    batch: dict[str, Any], device: torch.device, generator: torch.Generator, shared: torch.Generator
) -> dict[str, Any]:
    scale = int(torch.randint(0, NonSkipUNet.SCALES, (1,), generator=shared))
    return pcrlv2_inputs(batch, device, generator, scale)


def _pcrlv2_export(model: nn.Module, options: ModelOptions) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
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


METHODS = {
    "voco": Method(
        name="voco",
        defaults=DEFAULTS["voco"],
        build=_voco_model,
        sampler=lambda o: VoCoSampler(grid=o.grid, base=o.base_size, random_crops=o.random_crops),
        inputs=lambda batch, device, generator, shared: voco_inputs(batch, device, generator),
        find_unused_parameters=False,
        # The projector's batch norm sees the B * n bases and the B * k random crops apart: each needs two.
        min_batch_size=lambda o: -(-2 // min(o.grid[0] * o.grid[1], o.random_crops)),
        export=_voco_export,
    ),
    "pcrlv2": Method(
        name="pcrlv2",
        defaults=DEFAULTS["pcrlv2"],
        build=lambda o: PCRLv2(o.widths),
        sampler=lambda o: SubCropSampler(local_views=o.local_views),
        inputs=_pcrlv2_inputs,
        find_unused_parameters=True,
        # With one sample the comparison head's batch norm sees only the two global views and
        # maps them to exact opposites (+-1 per channel), which makes every comparison meaningless.
        min_batch_size=lambda o: 2,
        export=_pcrlv2_export,
    ),
}


__all__ = ["DEFAULTS", "METHODS", "TINY", "Defaults", "Method", "ModelOptions"]
