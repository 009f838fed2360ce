"""VoCo's views on the device: the HU window, base and random crops, their augmentation, the student's dropout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ctssl.augment import SpatialRanges, apply_spatial, crop_views, draw_shifts, draw_spatial, window
from ctssl.methods.voco.defaults import VoCoOptions

WINDOW = (-175.0, 250.0)  # HU -> [0, 1], the abdomen window of the paper and both releases


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


def augment_crops(crops: torch.Tensor, options: VoCoOptions, generator: torch.Generator) -> torch.Tensor:
    """Each crop (N, 1, *s) on its own, as both releases: a flip per axis, a quarter turn in the x-y plane, an
    optional small rotation about z, then an intensity shift (unclamped, as MONAI's RandShiftIntensity)."""
    flip = options.flip_probability
    ranges = SpatialRanges((flip, flip, flip), options.turn_probability, (0.0, 0.0, options.max_degrees), 0.0)
    turned = apply_spatial(crops, draw_spatial(generator, crops.shape[0], ranges))
    shifts = draw_shifts(generator, crops.shape[0], options.shift_probability, options.shift_offset)
    return turned + shifts.to(turned).view(-1, *([1] * (crops.dim() - 1)))


def student_dropout(generator: torch.Generator, crops: int, probability: float) -> torch.Tensor:
    """(crops,) 0 with ``probability``, else 1 / (1 - probability): which embeddings the student sees zeroed."""
    kept = torch.rand(crops, generator=generator) >= probability
    return kept.float() / (1.0 - probability)


def voco_inputs(
    batch: dict[str, Any], options: VoCoOptions, device: torch.device, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Windowed, augmented crops and their labels, which augmentation leaves as they are: they are the
    crops' positions in the region. The teacher head also gets the student's dropout mask."""
    views = voco_views(batch, device)
    crops = torch.cat([views.bases, views.randoms], dim=1)
    augmented = augment_crops(crops.flatten(0, 1), options, generator).view_as(crops)
    count = views.bases.shape[1]
    inputs = {"bases": augmented[:, :count], "randoms": augmented[:, count:], "labels": views.labels}
    if options.teacher_momentum is not None:
        inputs["kept"] = student_dropout(generator, crops.shape[0] * crops.shape[1], options.student_dropout).to(device)
    return inputs
