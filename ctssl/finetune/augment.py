"""The released BTCV recipe's random transforms, per crop, on the device (image and labels alike).

Flips on each axis (p each), a quarter turn in the axial plane by 1-3 steps
(p; half turns only when the crop is not square there), intensity scale by
1 + U(-a, a) (p) and shift by U(-a, a) (p) on the [0, 1] image.
"""

from __future__ import annotations

import torch

from ctssl.finetune.config import FinetuneConfig as Recipe


def augment(
    images: torch.Tensor, labels: torch.Tensor, recipe: Recipe, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented copies of (B, 1, x, y, z) images and labels."""
    out_images, out_labels = [], []
    for image, label in zip(images, labels, strict=True):
        image, label = _spatial(image, label, recipe, generator)
        out_images.append(_intensity(image, recipe, generator))
        out_labels.append(label)
    return torch.stack(out_images), torch.stack(out_labels)


def _draw(generator: torch.Generator, device: torch.device) -> float:
    return float(torch.rand((), generator=generator, device=device))


def _spatial(
    image: torch.Tensor, label: torch.Tensor, recipe: Recipe, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    for axis in (1, 2, 3):
        if _draw(generator, image.device) < recipe.flip_p:
            image, label = image.flip(axis), label.flip(axis)
    if _draw(generator, image.device) < recipe.rot90_p:
        square = image.shape[1] == image.shape[2]
        turns = 1 + int(_draw(generator, image.device) * 3) if square else 2
        image, label = image.rot90(turns, (1, 2)), label.rot90(turns, (1, 2))
    return image, label


def _intensity(image: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    if _draw(generator, image.device) < recipe.scale_p:
        image = image * (1.0 + (2 * _draw(generator, image.device) - 1) * recipe.intensity)
    if _draw(generator, image.device) < recipe.shift_p:
        image = image + (2 * _draw(generator, image.device) - 1) * recipe.intensity
    return image
