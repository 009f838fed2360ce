"""Joint 2D/3D views on the device: the HU window, two views of a slab as slice stacks, augmentation, the mask."""

from __future__ import annotations

import math
from typing import Any

import torch

from ctssl.augment import crop_views, window
from ctssl.methods.joint2d3d.augmentation import augment, draw_augmentation
from ctssl.methods.joint2d3d.defaults import MASK_RATIO, JointOptions

WINDOW = (-1000.0, 1000.0)  # HU -> [0, 1]: lung, soft tissue and bone keep their contrast


def as_slices(crops: torch.Tensor, layout: tuple[int, int, int]) -> torch.Tensor:
    """Resized crops (B, 1, X, Y, Z) -> slices (B, n, 1, rows, columns) in the sampler's (slice, row, column) layout.

    Rows and columns run from the high voxel index to the low one (ctssl.samplers.slices.LAYOUTS).
    """
    along, rows, columns = (axis + 1 for axis in layout)
    return crops[:, 0].permute(0, along, rows, columns).flip(2, 3)[:, :, None]


def slice_stacks(batch: dict[str, Any], device: torch.device | str = "cpu") -> torch.Tensor:
    """Both views of every sample, windowed, before augmentation: (B, 2, n, 1, V, V)."""
    regions = window(batch["region"].to(device), *WINDOW)
    # The sampler's layout (a permutation matrix, the same for the whole batch) -> (slice, row, column) axes.
    along, rows, columns = (int(axis) for axis in batch["labels"][0].argmax(dim=1))
    crops = crop_views(regions, batch["crops"].to(device), batch["out_sizes"])
    return torch.stack([as_slices(crop, (along, rows, columns)) for crop in crops], dim=1)


def draw_mask(generator: torch.Generator, volumes: int, slices: int, ratio: float = MASK_RATIO) -> torch.Tensor:
    """(volumes, slices) bool: exactly ceil(ratio * slices) masked slices per volume, uniform without replacement."""
    count = max(1, math.ceil(round(ratio * slices, 6)))  # round: 0.1 * 30 is 3.0000000000000004 in floats
    order = torch.rand(volumes, slices, generator=generator).argsort(dim=1)
    return torch.zeros(volumes, slices, dtype=torch.bool).scatter(1, order[:, :count], True)


def joint_inputs(
    batch: dict[str, Any],
    options: JointOptions,
    device: torch.device,
    generator: torch.Generator,
    shared: torch.Generator | None = None,
) -> dict[str, Any]:
    """The model's inputs: augmented views (B, 2, n, 1, V, V) and one mask (B, n) for both views.

    Every draw is this process's own (``generator``); nothing needs ``shared``, the generator all processes share,
    nor ``options`` (the paper's augmentation ranges are fixed).
    """
    stacks = slice_stacks(batch, device)
    volumes, _, slices = stacks.shape[:3]
    flat = stacks.flatten(0, 1)[:, :, 0]  # (2B, n, V, V)
    params = draw_augmentation(generator, flat.shape[0], volumetric=slices > 1)
    views = augment(flat, params, generator).view_as(stacks)
    return {"views": views, "mask": draw_mask(generator, volumes, slices).to(device)}
