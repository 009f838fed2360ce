"""The numpy resampler ct-corpus used before the compiled sampler: the oracle the sampler is checked against.

Semantics (both paths): a target voxel takes the trilinear interpolation of
the input at its centre; inside the half-voxel rim of the input's field of
view the edge value holds; beyond it the voxel gets ``fill``.
Axis-aligned inputs (any flips and permutations, the common case) take an
exact separable path; oblique inputs take scipy's ``map_coordinates``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from corpus.preprocess.grid import Grid
from corpus.preprocess.resample import _axis_permutation  # which path only: both compute the same

_SLAB_POINTS = 1 << 22  # oblique path: points mapped per step, bounds temporary memory
_INSIDE_TOLERANCE = 1e-6


def resample(
    array: np.ndarray, affine: np.ndarray, grid: Grid, fill: float, slice_positions: np.ndarray | None = None
) -> np.ndarray:
    """Resample ``array`` (voxel -> RAS mm by ``affine``) onto ``grid`` as float32.

    With ``slice_positions`` (uneven stacks), the affine's third coordinate is
    mm along the stack and maps to a fractional slice index piecewise-linearly,
    so interpolation runs between the two real neighbouring slices.
    """
    index_map = np.linalg.inv(affine) @ grid.affine  # target index -> input index
    to_slice = _SliceIndex(slice_positions)
    permutation = _axis_permutation(index_map, grid.shape)
    if permutation is not None:
        return _resample_separable(array, index_map, permutation, grid.shape, fill, to_slice)
    return _resample_oblique(array, index_map, grid.shape, fill, to_slice)


class _SliceIndex:
    """Maps the affine's third coordinate to a fractional slice index (identity for even stacks)."""

    def __init__(self, positions: np.ndarray | None) -> None:
        self.knots: np.ndarray | None = None
        if positions is not None:
            n = len(positions)
            first = positions[0] - (positions[1] - positions[0]) / 2
            last = positions[-1] + (positions[-1] - positions[-2]) / 2
            self.knots = np.r_[first, positions, last]
            self.indices = np.r_[-0.5, np.arange(n, dtype=np.float64), n - 0.5]
            self.outside = (-1.0, n + 0.0)  # clearly beyond the half-slice rim

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        if self.knots is None:
            return coords
        return np.interp(coords, self.knots, self.indices, left=self.outside[0], right=self.outside[1])


def _resample_separable(
    array: np.ndarray,
    index_map: np.ndarray,
    permutation: list[int],
    shape: tuple[int, int, int],
    fill: float,
    to_slice: _SliceIndex,
) -> np.ndarray:
    data = array.transpose(permutation)
    # NIfTI arrays come Fortran-ordered: gather on the C-ordered transpose (np.take would copy).
    reverse = not data.flags.c_contiguous and data.T.flags.c_contiguous
    work = data.T if reverse else data
    inside = []
    # Shrink the axis that shrinks most first: later passes touch fewer voxels.
    order = sorted(range(3), key=lambda j: shape[j] / data.shape[j])
    for axis in order:
        source = permutation[axis]
        coords = index_map[source, axis] * np.arange(shape[axis]) + index_map[source, 3]
        if source == 2:
            coords = to_slice(coords)
        work = _interpolate_axis(work, coords, 2 - axis if reverse else axis)
        inside.append((axis, _inside(coords, array.shape[source])))
    data = work.T if reverse else work
    for axis, mask in inside:
        outside: list[slice | np.ndarray] = [slice(None)] * 3
        outside[axis] = ~mask
        data[tuple(outside)] = fill
    return data


def _interpolate_axis(data: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    size = data.shape[axis]
    clamped = np.clip(coords, 0.0, size - 1.0)
    lower = np.minimum(np.floor(clamped).astype(np.intp), max(size - 2, 0))
    upper = np.minimum(lower + 1, size - 1)
    weight_shape = [1, 1, 1]
    weight_shape[axis] = -1
    weight = (clamped - lower).astype(np.float32).reshape(weight_shape)
    low = np.take(data, lower, axis=axis).astype(np.float32, copy=False)
    high = np.take(data, upper, axis=axis).astype(np.float32, copy=False)
    high -= low
    high *= weight
    low += high
    return low


def _inside(coords: np.ndarray, size: int) -> np.ndarray:
    return (coords >= -0.5 - _INSIDE_TOLERANCE) & (coords <= size - 0.5 + _INSIDE_TOLERANCE)


def _resample_oblique(
    array: np.ndarray,
    index_map: np.ndarray,
    shape: tuple[int, int, int],
    fill: float,
    to_slice: _SliceIndex | None = None,
) -> np.ndarray:
    out = np.empty(shape, dtype=np.float32)
    slab = max(1, _SLAB_POINTS // (shape[0] * shape[1]))
    limits = np.asarray(array.shape, dtype=np.float64)[:, None]
    for z0 in range(0, shape[2], slab):
        z1 = min(z0 + slab, shape[2])
        target = np.mgrid[0 : shape[0], 0 : shape[1], z0:z1].reshape(3, -1).astype(np.float64)
        coords = index_map[:3, :3] @ target + index_map[:3, 3:]
        if to_slice is not None:
            coords[2] = to_slice(coords[2])
        inside = np.all((coords >= -0.5 - _INSIDE_TOLERANCE) & (coords <= limits - 0.5 + _INSIDE_TOLERANCE), axis=0)
        np.clip(coords, 0.0, limits - 1.0, out=coords)
        values = ndimage.map_coordinates(array, coords, order=1, mode="nearest", prefilter=False, output=np.float32)
        values[~inside] = fill
        out[:, :, z0:z1] = values.reshape(shape[0], shape[1], z1 - z0)
    return out
