"""VoCo crops: a grid of base crops over a region, random crops, position labels.

A region of (n_x * b_x, n_y * b_y, b_z) voxels is tiled by n_x x n_y
non-overlapping base crops spanning its full depth; k random crops of the
base size lie anywhere inside it. A random crop's label for base i is the
fraction of its x-y area that overlaps base i, so each label row sums to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ctssl.samplers.base import CropParams
from ctssl.samplers.boxes import Box, Shape, place


@dataclass(frozen=True)
class VoCoSampler:
    """n_x x n_y bases of ``base`` voxels and ``random_crops`` random crops (the method's options set them)."""

    grid: tuple[int, int]
    base: Shape
    random_crops: int

    @property
    def region_size(self) -> Shape:
        return self.grid[0] * self.base[0], self.grid[1] * self.base[1], self.base[2]

    def bases(self) -> tuple[Box, ...]:
        """Base crops in region coordinates, x-major: base i*n_y + j sits at grid cell (i, j)."""
        return tuple(
            Box((i * self.base[0], j * self.base[1], 0), self.base)
            for i in range(self.grid[0])
            for j in range(self.grid[1])
        )

    def make_params(
        self, rng: np.random.Generator, volume_shape: Sequence[int], body_bbox: Sequence[int] | None
    ) -> CropParams:
        region = place(rng, self.region_size, volume_shape, body_bbox)
        limit = np.array(self.region_size[:2]) - np.array(self.base[:2])
        corners = rng.integers(0, limit + 1, size=(self.random_crops, 2))
        randoms = tuple(Box((int(x), int(y), 0), self.base) for x, y in corners)
        bases = self.bases()
        crops = bases + randoms
        return CropParams(region, crops, (self.base,) * len(crops), position_labels(randoms, bases))

    def accept(self, params: CropParams, region: np.ndarray) -> bool:
        return True


def position_labels(randoms: Sequence[Box], bases: Sequence[Box]) -> np.ndarray:
    """(k, n) overlap fraction of each random crop's x-y area with each base's."""
    labels = np.zeros((len(randoms), len(bases)), dtype=np.float32)
    for r, crop in enumerate(randoms):
        for b, base in enumerate(bases):
            width = max(0, min(crop.stop[0], base.stop[0]) - max(crop.start[0], base.start[0]))
            height = max(0, min(crop.stop[1], base.stop[1]) - max(crop.start[1], base.start[1]))
            labels[r, b] = width * height / (crop.size[0] * crop.size[1])
    return labels
