"""PCRLv2 sub-crop: two overlapping global views, local views inside their bounding box.

Per the paper (sections 3.4 and 4.3): global sizes from {64x64x32, 96x96x64,
96x96x96, 112x112x64} with IoU > 0.3, six local views with sizes from {8^3,
16^3, 32x32x16, 32^3} inside the minimal bounding box of the two globals;
globals resize to 64x64x32, locals to 16^3. A global view with more than 85%
background voxels (< -150 HU) is not used: the draw is repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ctssl.samplers.base import CropParams
from ctssl.samplers.boxes import Box, Shape, enclosing, iou, place, start_range

GLOBAL_SIZES: tuple[Shape, ...] = ((64, 64, 32), (96, 96, 64), (96, 96, 96), (112, 112, 64))
LOCAL_SIZES: tuple[Shape, ...] = ((8, 8, 8), (16, 16, 16), (32, 32, 16), (32, 32, 32))


@dataclass(frozen=True)
class SubCropSampler:
    local_views: int  # the method's option (the paper: 6)
    global_sizes: tuple[Shape, ...] = GLOBAL_SIZES
    local_sizes: tuple[Shape, ...] = LOCAL_SIZES
    min_iou: float = 0.3
    global_out: Shape = (64, 64, 32)
    local_out: Shape = (16, 16, 16)
    background_hu: int = -150
    max_background: float = 0.85
    pair_tries: int = 100

    def make_params(
        self, rng: np.random.Generator, volume_shape: Sequence[int], body_bbox: Sequence[int] | None
    ) -> CropParams:
        first, second = self._global_pair(rng, volume_shape, body_bbox)
        region = enclosing([first, second])
        origin = [-s for s in region.start]
        views = [self._local(rng, region.size) for _ in range(self.local_views)]
        crops = (first.shifted(origin), second.shifted(origin), *views)
        out_sizes = (self.global_out,) * 2 + (self.local_out,) * self.local_views
        return CropParams(region, crops, out_sizes, np.zeros(0, dtype=np.float32))

    def accept(self, params: CropParams, region: np.ndarray) -> bool:
        """The paper's rule: no global view with more than 85% of voxels below -150 HU."""
        return all(
            background_fraction(region, crop, self.background_hu) <= self.max_background for crop in params.crops[:2]
        )

    def _global_pair(
        self, rng: np.random.Generator, volume_shape: Sequence[int], body_bbox: Sequence[int] | None
    ) -> tuple[Box, Box]:
        for _ in range(self.pair_tries):
            size_a, size_b = (self.global_sizes[i] for i in rng.integers(len(self.global_sizes), size=2))
            first = place(rng, size_a, volume_shape, body_bbox)
            # Second view anywhere it overlaps the first and stays where the first may go; IoU decides.
            allowed_low, allowed_high = start_range(size_b, volume_shape, body_bbox)
            low = np.maximum(np.asarray(first.start) - np.asarray(size_b) + 1, allowed_low)
            high = np.minimum(np.asarray(first.stop) - 1, allowed_high)
            if np.any(low > high):
                continue
            start = rng.integers(low, high + 1)
            second = Box((int(start[0]), int(start[1]), int(start[2])), size_b)
            if iou(first, second) > self.min_iou:
                return first, second
        # Bounded tries: fall back to two equal views shifted by an eighth per axis (IoU 0.5 > 0.3).
        shift = [s // 8 for s in first.size]
        return first, first.shifted(shift)

    def _local(self, rng: np.random.Generator, bounds: Sequence[int]) -> Box:
        size = np.minimum(self.local_sizes[int(rng.integers(len(self.local_sizes)))], bounds)
        start = rng.integers(0, np.asarray(bounds) - size + 1)
        return Box((int(start[0]), int(start[1]), int(start[2])), (int(size[0]), int(size[1]), int(size[2])))


def background_fraction(region: np.ndarray, crop: Box, threshold_hu: int) -> float:
    """Share of the crop's voxels below ``threshold_hu``."""
    values = region[tuple(slice(a, b) for a, b in crop.bounds())]
    return float(np.mean(values < threshold_hu))
