"""What every crop sampler returns, and the protocol the data path relies on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ctssl.samplers.boxes import Box, Shape


@dataclass(frozen=True)
class CropParams:
    """One training sample's geometry: the region to read, crops inside it, their labels.

    ``region`` is in volume voxels and may reach outside the volume (read as
    air); ``crops`` are relative to the region; crop ``i`` is resized to
    ``out_sizes[i]`` on the device. ``labels`` is method-specific (VoCo: the
    (random crops x bases) overlap fractions; PCRLv2: empty; slices: the 3 x 3
    permutation from volume axes to slice, row and column axes).
    """

    region: Box
    crops: tuple[Box, ...]
    out_sizes: tuple[Shape, ...]
    labels: np.ndarray

    def crop_rows(self) -> np.ndarray:
        """Crops as an (n, 6) int array of (start, size), for batching."""
        return np.array([crop.as_row() for crop in self.crops], dtype=np.int64)


class Sampler(Protocol):
    """A pure function of (rng, volume shape, body bbox) -> CropParams, plus a content check."""

    def make_params(
        self, rng: np.random.Generator, volume_shape: Sequence[int], body_bbox: Sequence[int] | None
    ) -> CropParams: ...

    def accept(self, params: CropParams, region: np.ndarray) -> bool:
        """False when the region's content rules the draw out (the caller draws again)."""
        ...
