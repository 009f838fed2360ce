"""Slices and slice stacks from the same shards: a slab of the volume and two in-plane crops of it.

The region is a slab, ``slices * stride`` voxels along the slice axis and
``region`` voxels on the two in-plane axes, placed inside the body when it
fits; only that slab is read. Two crops (views s and t) span the whole slab
along the slice axis; in-plane each is a random-resized crop (area fraction
and aspect ratio drawn as torchvision's RandomResizedCrop does). Both resize to
``view`` x ``view`` pixels and ``slices`` slices, so slice i of either view
comes from the same stored slice position: stride 1 reads every slice, an odd
stride s every s-th slice exactly, an even one the mean of the two middle
slices of each s-slice block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ctssl.samplers.base import CropParams
from ctssl.samplers.boxes import Box, Shape, place

# Corpus arrays are (x, y, z) in RAS+. A slice is shown as a radiologist reads it: (slice, row, column) axes,
# rows and columns both running from the high index to the low one (axial: anterior at the top, the
# patient's right on the left; coronal and sagittal: head at the top), slices in ascending order.
LAYOUTS: dict[str, tuple[int, int, int]] = {"sagittal": (0, 2, 1), "coronal": (1, 2, 0), "axial": (2, 1, 0)}


def slice_layout(axis: str) -> tuple[int, int, int]:
    """(slice, row, column) axes of a volume for slices along ``axis``."""
    if axis not in LAYOUTS:
        raise ValueError(f"slice axis must be one of {', '.join(LAYOUTS)}, got {axis!r}")
    return LAYOUTS[axis]


def layout_matrix(axis: str) -> np.ndarray:
    """The layout as a 3 x 3 permutation: row k is one-hot on the volume axis that becomes the slice (k = 0),
    row (1) or column (2) axis. It is the labels of a slice sampler: the views turn crops into slices with it."""
    return np.eye(3, dtype=np.float32)[list(slice_layout(axis))]


@dataclass(frozen=True)
class SliceStackSampler:
    """Two views of a stack of ``slices`` slices along ``axis`` (the method's options set every size)."""

    axis: str  # axial | coronal | sagittal
    slices: int  # slices per stack
    stride: int  # stored slices per stack slice
    region: int  # in-plane size of the slab, voxels
    view: int  # in-plane size of each view, pixels
    crop_scale: tuple[float, float]  # area fraction of the slab's cross-section a view covers
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratios of a view's crop
    tries: int = 10  # draws before falling back to the whole cross-section

    def __post_init__(self) -> None:
        slice_layout(self.axis)
        if min(self.slices, self.stride, self.region, self.view) < 1:
            raise ValueError(
                f"slices, stride, region and view must be >= 1, got {self.slices}, {self.stride}, "
                f"{self.region}, {self.view}"
            )

    @property
    def slab_size(self) -> Shape:
        return self._along_axis(self.slices * self.stride, self.region)

    @property
    def out_size(self) -> Shape:
        return self._along_axis(self.slices, self.view)

    def make_params(
        self, rng: np.random.Generator, volume_shape: Sequence[int], body_bbox: Sequence[int] | None
    ) -> CropParams:
        slab = place(rng, self.slab_size, volume_shape, body_bbox)
        crops = (self._view_crop(rng), self._view_crop(rng))
        return CropParams(slab, crops, (self.out_size, self.out_size), layout_matrix(self.axis))

    def accept(self, params: CropParams, region: np.ndarray) -> bool:
        return True

    def _view_crop(self, rng: np.random.Generator) -> Box:
        """Random-resized in-plane, the whole slab along the slice axis."""
        placed = in_plane_crop(rng, self.region, self.crop_scale, self.ratio, self.tries)
        starts, sizes = [0, 0, 0], list(self.slab_size)
        in_plane = [axis for axis in range(3) if axis != self._slice_axis]
        for axis, (first, size) in zip(in_plane, placed, strict=True):
            starts[axis], sizes[axis] = first, size
        return Box((starts[0], starts[1], starts[2]), (sizes[0], sizes[1], sizes[2]))

    @property
    def _slice_axis(self) -> int:
        return slice_layout(self.axis)[0]

    def _along_axis(self, along: int, across: int) -> Shape:
        x, y, z = (along if index == self._slice_axis else across for index in range(3))
        return x, y, z


def slice_sampler(axis: str, region: int, view: int, crop_scale: tuple[float, float]) -> SliceStackSampler:
    """Two views of one slice: a stack of one (the 2D regime, one slice per volume in a batch)."""
    return SliceStackSampler(axis=axis, slices=1, stride=1, region=region, view=view, crop_scale=crop_scale)


def in_plane_crop(
    rng: np.random.Generator, side: int, scale: tuple[float, float], ratio: tuple[float, float], tries: int
) -> tuple[tuple[int, int], tuple[int, int]]:
    """((start, size) on the first in-plane axis, the same on the second) of a random-resized crop of a square.

    Area fraction uniform in ``scale``, aspect ratio log-uniform in ``ratio``; a draw that does not
    fit is repeated, and after ``tries`` the whole square is the crop.
    """
    area = side * side
    for _ in range(tries):
        fraction = rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        first = round(math.sqrt(area * fraction * aspect))
        second = round(math.sqrt(area * fraction / aspect))
        if 0 < first <= side and 0 < second <= side:
            return (int(rng.integers(0, side - first + 1)), first), (int(rng.integers(0, side - second + 1)), second)
    return (0, side), (0, side)
