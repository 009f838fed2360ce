"""PCRLv2's views on the device: the HU window, two global and L local views, their augmentation.

As the released 3D code (RL4M/PCRLv2 data.py, datasets/lunaDataset.py, with
TorchIO's defaults): each view on its own is flipped along x with chance 0.5
and given a random affine (rotation within +-10 degrees about every axis,
scaling within +-10% per axis); that is its restoration target. The network's
input then gets a Gaussian blur (sigma uniform in 0..2 voxels per axis),
Gaussian noise (standard deviation uniform in 0..0.25), a gamma exp(U(-0.3,
0.3)), on the global views 100 swaps of 8 x 4 x 4 patches, and last a
z-normalization of each view. Targets stay in the [0, 1] window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from ctssl.augment import (
    CorruptionRanges,
    SpatialRanges,
    apply_pixel,
    apply_spatial,
    crop_views,
    draw_pixel,
    draw_spatial,
    window,
    z_normalize,
)

WINDOW = (-1000.0, 1000.0)  # HU -> [0, 1]
SPATIAL = SpatialRanges(flip_probability=(0.5, 0.0, 0.0), turn_probability=0.0, max_degrees=(10, 10, 10), max_scale=0.1)
GLOBAL_CORRUPTION = CorruptionRanges(
    probability=1.0,
    blur_sigma=(0.0, 2.0),
    noise_std=(0.0, 0.25),
    log_gamma=(-0.3, 0.3),
    swaps=100,
    swap_patch=(8, 4, 4),
)
LOCAL_CORRUPTION = replace(GLOBAL_CORRUPTION, swaps=0)


@dataclass(frozen=True)
class PCRLv2Views:
    global_inputs: torch.Tensor  # (B, 2, 1, 64, 64, 32) corrupted, z-normalized
    global_targets: torch.Tensor  # (B, 2, 1, 64, 64, 32) restoration targets, in [0, 1]
    local_inputs: torch.Tensor  # (B, L, 1, 16, 16, 16) corrupted, z-normalized


def pcrlv2_pair(
    views: torch.Tensor, generator: torch.Generator, corruption: CorruptionRanges
) -> tuple[torch.Tensor, torch.Tensor]:
    """(network input, restoration target): the target is the view after the spatial transforms; the input is
    the target corrupted, then z-normalized."""
    target = apply_spatial(views, draw_spatial(generator, views.shape[0], SPATIAL))
    corrupted = apply_pixel(target, draw_pixel(generator, views.shape[0], corruption), generator, corruption.swap_patch)
    return z_normalize(corrupted), target


def pcrlv2_views(batch: dict[str, Any], generator: torch.Generator, device: torch.device | str = "cpu") -> PCRLv2Views:
    """Window PCRLv2 regions, cut and resize the 2 global and L local views, augment them."""
    regions = window(batch["region"].to(device), *WINDOW)
    views = crop_views(regions, batch["crops"].to(device), batch["out_sizes"])
    pairs = [pcrlv2_pair(view, generator, GLOBAL_CORRUPTION) for view in views[:2]]
    local_inputs = [pcrlv2_pair(view, generator, LOCAL_CORRUPTION)[0] for view in views[2:]]
    return PCRLv2Views(
        global_inputs=torch.stack([inputs for inputs, _ in pairs], dim=1),
        global_targets=torch.stack([target for _, target in pairs], dim=1),
        local_inputs=torch.stack(local_inputs, dim=1),
    )


def pcrlv2_inputs(
    batch: dict[str, Any], device: torch.device, generator: torch.Generator, scales: Sequence[int]
) -> dict[str, Any]:
    views = pcrlv2_views(batch, generator, device)
    return {
        "global_inputs": views.global_inputs,
        "global_targets": views.global_targets,
        "local_inputs": views.local_inputs,
        "scales": tuple(scales),
    }
