"""PCRLv2's views on the device: the HU window, two global and L local views, and their corruption."""

from __future__ import annotations

import math
from dataclasses import dataclass
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
)

WINDOW = (-1000.0, 1000.0)  # HU -> [0, 1]
SPATIAL = SpatialRanges(flip_probability=(0.5, 0.5, 0.5), turn_probability=0.75, max_degrees=(0, 0, 10), max_scale=0.1)
CORRUPTION = CorruptionRanges(0.5, (0.5, 1.5), (0.0, 0.05), (math.log(0.7), math.log(1.5)), 8, (8, 8, 4))


@dataclass(frozen=True)
class PCRLv2Views:
    global_inputs: torch.Tensor  # (B, 2, 1, 64, 64, 32) corrupted
    global_targets: torch.Tensor  # (B, 2, 1, 64, 64, 32) restoration targets
    local_inputs: torch.Tensor  # (B, L, 1, 16, 16, 16) corrupted


def pcrlv2_pair(views: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(corrupted input, restoration target): the target is the view after spatial, before pixel corruption."""
    target = apply_spatial(views, draw_spatial(generator, views.shape[0], SPATIAL))
    patch = [max(1, side // 8) for side in views.shape[2:]]
    corrupted = apply_pixel(target, draw_pixel(generator, views.shape[0], CORRUPTION), generator, patch)
    return corrupted, target


def pcrlv2_views(batch: dict[str, Any], generator: torch.Generator, device: torch.device | str = "cpu") -> PCRLv2Views:
    """Window PCRLv2 regions, cut and resize the 2 global and L local views, corrupt them."""
    regions = window(batch["region"].to(device), *WINDOW)
    views = crop_views(regions, batch["crops"].to(device), batch["out_sizes"])
    pairs = [pcrlv2_pair(view, generator) for view in views]
    global_inputs = torch.stack([pairs[0][0], pairs[1][0]], dim=1)
    global_targets = torch.stack([pairs[0][1], pairs[1][1]], dim=1)
    local_inputs = torch.stack([corrupted for corrupted, _ in pairs[2:]], dim=1)
    return PCRLv2Views(global_inputs, global_targets, local_inputs)


def pcrlv2_inputs(
    batch: dict[str, Any], device: torch.device, generator: torch.Generator, scale: int
) -> dict[str, Any]:
    views = pcrlv2_views(batch, generator, device)
    return {
        "global_inputs": views.global_inputs,
        "global_targets": views.global_targets,
        "local_inputs": views.local_inputs,
        "scale": scale,
    }
