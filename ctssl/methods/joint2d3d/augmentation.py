"""Augmentation of slice stacks: one draw per stack, applied alike to every slice of it.

SwAV's recipe for grey CT (flips, a small rotation and scaling, brightness and
contrast, gamma, blur, noise) plus one volume-specific transform, a coarser
slice spacing (anisotropy). Because every slice of a view is transformed the
same way, slice i of two views still shows the same anatomy: the pairs of the
2D loss stay exact. Randomness is drawn once (``draw_augmentation``) from a
torch.Generator; applying it is pure but for the noise, which comes from the
same generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ctssl.augment import gaussian_blur


@dataclass(frozen=True)
class Augmentation:
    """Per stack: (S,) values unless noted."""

    flips: torch.Tensor  # (S, 2) bool: rows, columns
    affine: torch.Tensor  # (S, 2, 3) in-plane rotation and scaling, normalised coordinates
    brightness: torch.Tensor  # factor, 1 = off
    contrast: torch.Tensor  # factor around each slice's mean, 1 = off
    gamma: torch.Tensor  # exponent, 1 = off
    blur_sigma: torch.Tensor  # pixels, 0 = off
    noise_std: torch.Tensor  # 0 = off
    anisotropy: torch.Tensor  # slice-spacing factor, 1 = off


def identity(stacks: int) -> Augmentation:
    """No change at all (tests, and a reference for what each draw alters)."""
    ones, zeros = torch.ones(stacks), torch.zeros(stacks)
    affine = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(stacks, 2, 3).clone()
    return Augmentation(torch.zeros(stacks, 2, dtype=torch.bool), affine, ones, ones, ones, zeros, zeros, ones)


def draw_augmentation(generator: torch.Generator, stacks: int, volumetric: bool) -> Augmentation:
    """The README's view recipe; ``volumetric`` allows the slice-spacing change (stacks of several slices)."""

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + torch.rand(stacks, generator=generator) * (high - low)

    def sometimes(probability: float, value: torch.Tensor, off: float) -> torch.Tensor:
        return torch.where(torch.rand(stacks, generator=generator) < probability, value, torch.full((stacks,), off))

    flips = torch.rand(stacks, 2, generator=generator) < 0.5
    angle, scale = uniform(-math.radians(10), math.radians(10)), uniform(0.9, 1.1)  # torchio RandomAffine magnitudes
    jitter = torch.rand(stacks, generator=generator) < 0.8  # SwAV colour jitter, strength 0.5, p 0.8
    brightness, contrast = uniform(0.6, 1.4), uniform(0.6, 1.4)
    return Augmentation(
        flips=flips,
        affine=_rotation_scaling(angle, scale),
        brightness=torch.where(jitter, brightness, 1.0),
        contrast=torch.where(jitter, contrast, 1.0),
        gamma=sometimes(0.5, torch.exp(uniform(-0.3, 0.3)), 1.0),  # torchio RandomGamma's log range
        blur_sigma=sometimes(0.5, uniform(0.1, 2.0), 0.0),  # SwAV's blur
        noise_std=sometimes(0.5, uniform(0.0, 0.05), 0.0),
        anisotropy=sometimes(0.25 if volumetric else 0.0, uniform(1.5, 5.0), 1.0),  # torchio RandomAnisotropy's range
    )


def augment(stacks: torch.Tensor, params: Augmentation, noise: torch.Generator) -> torch.Tensor:
    """Stacks (S, n, H, W) in [0, 1] -> augmented, clamped to [0, 1]."""
    out = _flip(stacks, params.flips.to(stacks.device))
    grid = F.affine_grid(params.affine.to(out), list(out.shape), align_corners=False)
    out = F.grid_sample(out, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = _jitter(out, params.brightness.to(out), params.contrast.to(out))
    out = out.clamp(0.0, 1.0) ** params.gamma.to(out).view(-1, 1, 1, 1)
    out = torch.stack([_blur(stack, float(sigma)) for stack, sigma in zip(out, params.blur_sigma, strict=True)])
    out = out + params.noise_std.to(out).view(-1, 1, 1, 1) * torch.randn(out.shape, generator=noise).to(out)
    out = torch.stack([_coarser(stack, float(f)) for stack, f in zip(out, params.anisotropy, strict=True)])
    return out.clamp(0.0, 1.0)


def _rotation_scaling(angle: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    affine = torch.zeros(angle.shape[0], 2, 3)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    affine[:, 0, 0], affine[:, 0, 1], affine[:, 1, 0], affine[:, 1, 1] = cos, -sin, sin, cos
    return affine


def _flip(stacks: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    rows, columns = flips[:, 0].view(-1, 1, 1, 1), flips[:, 1].view(-1, 1, 1, 1)
    out = torch.where(rows, stacks.flip(2), stacks)
    return torch.where(columns, out.flip(3), out)


def _jitter(stacks: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """Brightness scales, contrast stretches about each slice's mean (as torchvision's ColorJitter per image)."""
    out = (stacks * brightness.view(-1, 1, 1, 1)).clamp(0.0, 1.0)
    mean = out.mean(dim=(2, 3), keepdim=True)
    return (mean + (out - mean) * contrast.view(-1, 1, 1, 1)).clamp(0.0, 1.0)


def _blur(stack: torch.Tensor, sigma: float) -> torch.Tensor:
    """In-plane Gaussian blur of every slice of (n, H, W), edges extended by reflection."""
    return gaussian_blur(stack, (sigma, sigma)) if sigma > 0 else stack


def _coarser(stack: torch.Tensor, factor: float) -> torch.Tensor:
    """Keep every ``factor``-th slice (nearest) and interpolate linearly back: thicker, coarser slicing."""
    count = stack.shape[0]
    kept = max(1, round(count / factor))
    if factor <= 1 or kept >= count:
        return stack
    nearest = ((torch.arange(kept, device=stack.device) + 0.5) * count / kept).long().clamp(max=count - 1)
    columns = stack[nearest].flatten(1).T[None]  # (1, H * W, kept)
    return F.interpolate(columns, size=count, mode="linear", align_corners=False)[0].T.view_as(stack)
