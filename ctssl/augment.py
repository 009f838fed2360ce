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


# ---------------------------------------------------------------- spatial


@dataclass(frozen=True)
class SpatialRanges:
    """What :func:`draw_spatial` draws from; each method holds its own (ctssl/methods/<name>/views.py)."""

    flip_probability: tuple[float, float, float]  # per axis (x, y, z), each drawn on its own
    turn_probability: float  # a quarter turn in the x-y plane, k uniform in {1, 2, 3}; square views only
    max_degrees: tuple[float, float, float]  # rotation about x, y and z, each uniform in +-max
    max_scale: float  # per-axis scaling, each uniform in 1 +- max_scale


@dataclass(frozen=True)
class SpatialParams:
    flips: torch.Tensor  # (B, 3) bool
    quarter_turns: torch.Tensor  # (B,) 0..3 in the x-y plane
    affine: torch.Tensor | None  # (B, 3, 4) output -> input in grid_sample's normalized (z, y, x); None: no resampling


def draw_spatial(generator: torch.Generator, batch: int, ranges: SpatialRanges) -> SpatialParams:
    flips = torch.rand(batch, 3, generator=generator) < torch.tensor(ranges.flip_probability)
    turned = torch.rand(batch, generator=generator) < ranges.turn_probability
    quarter_turns = torch.where(turned, torch.randint(1, 4, (batch,), generator=generator), 0)
    if not any(ranges.max_degrees) and not ranges.max_scale:
        return SpatialParams(flips, quarter_turns, None)
    angles = (torch.rand(batch, 3, generator=generator) * 2 - 1) * torch.deg2rad(torch.tensor(ranges.max_degrees))
    scales = 1 + (torch.rand(batch, 3, generator=generator) * 2 - 1) * ranges.max_scale
    return SpatialParams(flips, quarter_turns, sampling_affine(angles, scales))


def sampling_affine(angles: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """(B, 3, 4): where each output voxel samples the input, for rotation Rz Ry Rx and scaling about the
    centre, in voxel units (x, y, z); :func:`apply_spatial` converts it to grid_sample's coordinates."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    rotations = torch.eye(3).repeat(angles.shape[0], 3, 1, 1)  # (B, axis, 3, 3)
    for axis, (first, second) in enumerate(((1, 2), (0, 2), (0, 1))):
        rotations[:, axis, first, first], rotations[:, axis, second, second] = cos[:, axis], cos[:, axis]
        rotations[:, axis, first, second], rotations[:, axis, second, first] = -sin[:, axis], sin[:, axis]
    forward = rotations[:, 2] @ rotations[:, 1] @ rotations[:, 0] @ torch.diag_embed(scales)
    return torch.cat([torch.linalg.inv(forward), torch.zeros(angles.shape[0], 3, 1)], dim=2)


def apply_spatial(views: torch.Tensor, params: SpatialParams) -> torch.Tensor:
    """Flips, quarter turns (when x and y sizes agree), then the affine; (B, C, X, Y, Z).

    The affine resamples trilinearly; what it brings in from outside the view is the view's minimum
    (TorchIO's RandomAffine default)."""
    out = []
    square = views.shape[2] == views.shape[3]
    for index, view in enumerate(views):
        axes = [axis + 1 for axis in range(3) if params.flips[index, axis]]
        view = view.flip(axes) if axes else view
        turns = int(params.quarter_turns[index])
        out.append(torch.rot90(view, turns, dims=(1, 2)) if square and turns else view)
    stacked = torch.stack(out)
    if params.affine is None:
        return stacked
    half = torch.tensor(stacked.shape[2:], dtype=torch.float32) / 2  # voxels from the centre to a face, x y z
    voxel = torch.diag(half.flip(0))
    to_grid = torch.diag(1 / half.flip(0))
    linear = params.affine[:, :, :3].flip(1, 2)  # (x, y, z) -> grid_sample's (z, y, x)
    theta = torch.cat([to_grid @ linear @ voxel, params.affine[:, :, 3:]], dim=2).to(views)
    grid = F.affine_grid(theta, list(stacked.shape), align_corners=False)
    floor = stacked.amin(dim=(1, 2, 3, 4), keepdim=True)
    return F.grid_sample(stacked - floor, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + floor


# ---------------------------------------------------------------- intensity


def draw_shifts(generator: torch.Generator, batch: int, probability: float, offset: float) -> torch.Tensor:
    """(B,) intensity offsets, uniform in +-offset with ``probability``, else 0 (MONAI's RandShiftIntensity)."""
    values = (torch.rand(batch, generator=generator) * 2 - 1) * offset
    return torch.where(torch.rand(batch, generator=generator) < probability, values, 0.0)


def z_normalize(views: torch.Tensor) -> torch.Tensor:
    """Each view (B, C, X, Y, Z) to zero mean and unit standard deviation; a constant view becomes 0."""
    mean = views.mean(dim=(1, 2, 3, 4), keepdim=True)
    std = views.std(dim=(1, 2, 3, 4), keepdim=True)
    return (views - mean) / std.clamp(min=1e-6)


# ---------------------------------------------------------------- pixel-level corruption


@dataclass(frozen=True)
class CorruptionRanges:
    """What :func:`draw_pixel` draws from; each of blur, noise and gamma applies with ``probability``."""

    probability: float
    blur_sigma: tuple[float, float]  # voxels, drawn per axis (TorchIO's RandomBlur)
    noise_std: tuple[float, float]  # Gaussian noise, mean 0
    log_gamma: tuple[float, float]  # gamma = exp(uniform)
    swaps: int  # pairs of patches swapped
    swap_patch: tuple[int, int, int]  # voxels (x, y, z)


@dataclass(frozen=True)
class PixelParams:
    blur_sigma: torch.Tensor  # (B, 3) voxels per axis, or (B,) for every axis; 0 = no blur
    noise_std: torch.Tensor  # (B,)
    gamma: torch.Tensor  # (B,)
    swap_boxes: torch.Tensor  # (B, S, 2, 3) pairs of patch corners, as fractions of the room a patch has


def draw_pixel(generator: torch.Generator, batch: int, ranges: CorruptionRanges) -> PixelParams:
    def maybe(low: float, high: float, off: float, *shape: int) -> torch.Tensor:
        value = low + torch.rand(batch, *shape, generator=generator) * (high - low)
        applied = (torch.rand(batch, generator=generator) < ranges.probability).view(batch, *([1] * len(shape)))
        return torch.where(applied, value, off)

    return PixelParams(
        blur_sigma=maybe(*ranges.blur_sigma, 0.0, 3),
        noise_std=maybe(*ranges.noise_std, 0.0),
        gamma=maybe(*ranges.log_gamma, 0.0).exp(),
        swap_boxes=torch.rand(batch, ranges.swaps, 2, 3, generator=generator),
    )


def apply_pixel(
    views: torch.Tensor, params: PixelParams, noise: torch.Generator, swap_patch: Sequence[int]
) -> torch.Tensor:
    """Blur, noise, gamma, then swap pairs of patches of ``swap_patch`` voxels; (B, C, X, Y, Z).

    Gamma keeps the sign: sign(v) |v|^gamma, as TorchIO does once noise has made some voxels negative."""
    sigmas = params.blur_sigma.view(views.shape[0], -1).expand(-1, 3)
    out = torch.stack([gaussian_blur(view, sigma.tolist()) for view, sigma in zip(views, sigmas, strict=True)])
    std = params.noise_std.to(views).view(-1, 1, 1, 1, 1)
    out = out + std * torch.randn(out.shape, generator=noise).to(views)
    out = out.sign() * out.abs() ** params.gamma.to(views).view(-1, 1, 1, 1, 1)
    return _swap_patches(out, params.swap_boxes, swap_patch)


TRUNCATE = 4.0  # kernel radius in sigmas, as scipy.ndimage.gaussian_filter (and so TorchIO's RandomBlur)


def gaussian_blur(view: torch.Tensor, sigma: Sequence[float]) -> torch.Tensor:
    """``view`` (C, *spatial: 2D slices or 3D) blurred with a Gaussian of ``sigma`` voxels per spatial axis, as
    ``scipy.ndimage.gaussian_filter(mode="reflect", truncate=4)``: borders are extended by reflection
    with the edge voxel repeated (d c b a | a b c d), so a constant view stays constant up to its faces."""
    out = view
    for axis, deviation in enumerate(sigma):
        if deviation <= 0:
            continue
        kernel = gaussian_kernel(deviation, view)
        dim = axis + 1
        radius = kernel.shape[0] // 2
        padded = out.index_select(dim, _reflected_positions(out.shape[dim], radius, view.device)).movedim(dim, -1)
        lines = padded.reshape(-1, 1, padded.shape[-1])
        blurred = F.conv1d(lines, kernel.view(1, 1, -1))
        out = blurred.view(*padded.shape[:-1], -1).movedim(-1, dim)
    return out


def gaussian_kernel(sigma: float, like: torch.Tensor) -> torch.Tensor:
    """A normalised 1D Gaussian truncated at ``TRUNCATE`` sigmas, in ``like``'s dtype and device."""
    radius = int(TRUNCATE * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def _reflected_positions(length: int, radius: int, device: torch.device) -> torch.Tensor:
    """Indices of a line extended by ``radius`` on each side, edge repeated; any radius (period 2 * length).

    Not torch's ``F.pad(mode="reflect")``, which leaves the edge out (d c b | a b c d) and needs radius < length."""
    positions = torch.arange(-radius, length + radius, device=device) % (2 * length)
    return torch.where(positions < length, positions, 2 * length - 1 - positions)


def _swap_patches(views: torch.Tensor, corners: torch.Tensor, patch: Sequence[int]) -> torch.Tensor:
    """Swap pairs of equal patches; a pair whose patches overlap is left alone (a swap would lose voxels)."""
    out = views.clone()
    size = [min(p, n) for p, n in zip(patch, views.shape[2:], strict=True)]
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
