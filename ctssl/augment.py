"""Batched, device-side view primitives: HU window, crop + resize, and augmentations.

Randomness is drawn once per batch by ``draw_*`` functions from a
``torch.Generator`` into small parameter objects; applying them is pure, so a
seed reproduces a batch exactly on CPU and on CUDA alike. Each method builds
its views from these (ctssl/methods/<name>/views.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def window(regions: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """int16 HU -> float in [0, 1] over [low, high]."""
    return ((regions.float() - low) / (high - low)).clamp_(0.0, 1.0)


def crop_resize(volumes: torch.Tensor, boxes: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Cut one box per volume and resize it trilinearly to ``size``, in one batched call.

    ``volumes`` (B, C, X, Y, Z); ``boxes`` (B, 6) = (start, size) in voxels.
    A box already of ``size`` comes out voxel for voxel.
    """
    dims = torch.tensor(volumes.shape[2:], device=volumes.device, dtype=torch.float32)
    axes = []
    for axis, out in enumerate(size):
        steps = torch.arange(out, device=volumes.device, dtype=torch.float32) + 0.5
        index = boxes[:, axis, None].float() + steps * boxes[:, 3 + axis, None].float() / out - 0.5
        axes.append((2 * index + 1) / dims[axis] - 1)  # normalized, align_corners=False
    gx, gy, gz = axes
    batch = volumes.shape[0]
    grid = torch.stack(
        [
            gz[:, None, None, :].expand(batch, *size),
            gy[:, None, :, None].expand(batch, *size),
            gx[:, :, None, None].expand(batch, *size),
        ],
        dim=-1,
    )
    return F.grid_sample(volumes, grid, mode="bilinear", padding_mode="border", align_corners=False)


def crop_views(volumes: torch.Tensor, crops: torch.Tensor, out_sizes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
    """Every crop index k as a (B, C, *out_sizes[k]) batch; crops is (B, K, 6)."""
    return [crop_resize(volumes, crops[:, k], out_sizes[k]) for k in range(crops.shape[1])]


# ---------------------------------------------------------------- spatial (both views alike)


@dataclass(frozen=True)
class SpatialParams:
    flips: torch.Tensor  # (B, 3) bool
    quarter_turns: torch.Tensor  # (B,) 0..3 in the x-y plane
    affine: torch.Tensor  # (B, 3, 4) small rotation about z and scaling, normalized coordinates


def draw_spatial(
    generator: torch.Generator, batch: int, max_degrees: float = 10.0, max_scale: float = 0.1
) -> SpatialParams:
    flips = torch.rand(batch, 3, generator=generator) < 0.5
    quarter_turns = torch.randint(0, 4, (batch,), generator=generator)
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * torch.deg2rad(torch.tensor(max_degrees))
    scale = 1 + (torch.rand(batch, generator=generator) * 2 - 1) * max_scale
    affine = torch.zeros(batch, 3, 4)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # grid coordinates are (z, y, x): rotate the y-x pair, keep z
    affine[:, 0, 0] = 1 / scale
    affine[:, 1, 1], affine[:, 1, 2], affine[:, 2, 1], affine[:, 2, 2] = cos, -sin, sin, cos
    return SpatialParams(flips, quarter_turns, affine)


def apply_spatial(views: torch.Tensor, params: SpatialParams) -> torch.Tensor:
    """Flips and quarter turns (when x and y sizes agree), then the small affine; (B, C, X, Y, Z)."""
    out = []
    square = views.shape[2] == views.shape[3]
    for index, view in enumerate(views):
        axes = [axis + 1 for axis in range(3) if params.flips[index, axis]]
        view = view.flip(axes) if axes else view
        out.append(torch.rot90(view, int(params.quarter_turns[index]), dims=(1, 2)) if square else view)
    stacked = torch.stack(out)
    grid = F.affine_grid(params.affine.to(views), list(stacked.shape), align_corners=False)
    return F.grid_sample(stacked, grid, mode="bilinear", padding_mode="border", align_corners=False)


# ---------------------------------------------------------------- pixel-level corruption


@dataclass(frozen=True)
class PixelParams:
    blur_sigma: torch.Tensor  # (B,) voxels; 0 = no blur
    noise_std: torch.Tensor  # (B,)
    gamma: torch.Tensor  # (B,)
    swap_boxes: torch.Tensor  # (B, S, 2, 3) pairs of patch corners, as fractions of the view


def draw_pixel(
    generator: torch.Generator,
    batch: int,
    probability: float = 0.5,
    swaps: int = 8,
    sigma: tuple[float, float] = (0.5, 1.5),
    noise: tuple[float, float] = (0.0, 0.05),
    gamma: tuple[float, float] = (0.7, 1.5),
) -> PixelParams:
    def maybe(low: float, high: float, off: float) -> torch.Tensor:
        value = low + torch.rand(batch, generator=generator) * (high - low)
        return torch.where(torch.rand(batch, generator=generator) < probability, value, torch.full((batch,), off))

    return PixelParams(
        blur_sigma=maybe(*sigma, off=0.0),
        noise_std=maybe(*noise, off=0.0),
        gamma=maybe(*gamma, off=1.0),
        swap_boxes=torch.rand(batch, swaps, 2, 3, generator=generator),
    )


def apply_pixel(views: torch.Tensor, params: PixelParams, noise: torch.Generator, patch: float = 0.125) -> torch.Tensor:
    """Blur, noise, gamma, then swap pairs of small patches; ``views`` in [0, 1], (B, C, X, Y, Z)."""
    out = torch.stack([_blur(view, float(sigma)) for view, sigma in zip(views, params.blur_sigma, strict=True)])
    std = params.noise_std.to(views).view(-1, 1, 1, 1, 1)
    out = out + std * torch.randn(out.shape, generator=noise).to(views)
    out = out.clamp(0.0, 1.0) ** params.gamma.to(views).view(-1, 1, 1, 1, 1)
    return _swap_patches(out, params.swap_boxes, patch)


def gaussian_kernel(sigma: float, like: torch.Tensor) -> torch.Tensor:
    """A normalised 1D Gaussian of radius max(1, round(2 sigma)), in ``like``'s dtype and device."""
    radius = max(1, round(2 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def _blur(view: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return view
    kernel = gaussian_kernel(sigma, view)
    radius = kernel.shape[0] // 2
    out = view[None]
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = -1
        padding = [0, 0, 0]
        padding[axis] = radius
        weight = kernel.view(shape).expand(view.shape[0], 1, *kernel.view(shape).shape[2:])
        out = F.conv3d(out, weight, padding=tuple(padding), groups=view.shape[0])
    return out[0]


def _swap_patches(views: torch.Tensor, corners: torch.Tensor, patch: float) -> torch.Tensor:
    """Swap pairs of equal patches; a pair whose patches overlap is left alone (a swap would lose voxels)."""
    out = views.clone()
    size = [max(1, int(n * patch)) for n in views.shape[2:]]
    limits = torch.tensor([n - s for n, s in zip(views.shape[2:], size, strict=True)], dtype=torch.float32)
    for b in range(views.shape[0]):
        for pair in corners[b]:
            first, second = (pair * limits).long().tolist()
            if all(abs(p - q) < s for p, q, s in zip(first, second, size, strict=True)):
                continue
            sample = out[b]  # a view: writes land in ``out``
            a: tuple[slice, ...] = (slice(None), *(slice(p, p + s) for p, s in zip(first, size, strict=True)))
            c: tuple[slice, ...] = (slice(None), *(slice(q, q + s) for q, s in zip(second, size, strict=True)))
            held = sample[a].clone()
            sample[a] = sample[c]
            sample[c] = held
    return out
