"""VoCo's views on the device: the HU window, base and random crops, and their augmentation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ctssl.augment import SpatialRanges, apply_spatial, crop_views, draw_spatial, window

WINDOW = (-175.0, 250.0)  # HU -> [0, 1], the abdomen window of the paper
SPATIAL = SpatialRanges(flip_probability=(0.5, 0.5, 0.5), turn_probability=0.75, max_degrees=(0, 0, 10), max_scale=0)


@dataclass(frozen=True)
class VoCoViews:
    bases: torch.Tensor  # (B, n, 1, *base)
    randoms: torch.Tensor  # (B, k, 1, *base)
    labels: torch.Tensor  # (B, k, n)


def voco_views(batch: dict[str, Any], device: torch.device | str = "cpu") -> VoCoViews:
    """Window VoCo regions to [0, 1] on ``device`` and cut the base and random crops."""
    regions = window(batch["region"].to(device), *WINDOW)
    labels = batch["labels"].to(device)
    views = torch.stack(crop_views(regions, batch["crops"].to(device), batch["out_sizes"]), dim=1)
    bases = labels.shape[2]
    return VoCoViews(views[:, :bases], views[:, bases:], labels)


def voco_inputs(batch: dict[str, Any], device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Windowed crops, each flipped, turned and rotated by up to 10 degrees on its own (VoCo's "random rotate
    and flip"; no scaling). The labels are positions in the region and do not change."""
    views = voco_views(batch, device)
    bases, randoms = views.bases, views.randoms
    crops = torch.cat([bases, randoms], dim=1)
    flat = crops.flatten(0, 1)
    augmented = apply_spatial(flat, draw_spatial(generator, flat.shape[0], SPATIAL)).view_as(crops)
    count = bases.shape[1]
    return {"bases": augmented[:, :count], "randoms": augmented[:, count:], "labels": views.labels}
