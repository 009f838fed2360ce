"""A label map onto its image's stored grid: nearest neighbour, never interpolated.

The label map must sit on its image's own voxel grid (same shape, same
affine within a small tolerance): labels drawn on another grid would be
moved by guesswork, so such a pair fails with ``label_geometry``. Each target
voxel takes the label of the input voxel whose centre is nearest, ties
rounded up in the input's index space (as ITK's nearest-neighbour
interpolator does); target voxels outside the input's field of view are
background (0).
"""

from __future__ import annotations

import itertools

import numpy as np

from corpus.errors import InputError, Reason
from corpus.preprocess.grid import Grid
from corpus.readers.volume import Volume

AFFINE_TOLERANCE_MM = 1e-3  # voxel positions may differ by float noise of the header, not more
_INSIDE_TOLERANCE = 1e-6
_UINT8_MAX = 255
_UINT16_MAX = 65535


def labels_on_grid(labels: Volume, image: Volume, grid: Grid) -> np.ndarray:
    """The label map resampled onto ``grid`` (the image's stored grid), uint8 or uint16."""
    check_same_geometry(labels, image)
    values = integer_labels(labels.array)
    index_map = np.linalg.inv(labels.affine) @ grid.affine  # target index -> input index
    out = np.zeros(grid.shape, dtype=values.dtype)
    for k in range(grid.shape[2]):  # one slice at a time bounds the index arrays
        out[:, :, k] = _nearest_slice(values, index_map, grid.shape, k)
    return out


def _nearest_slice(values: np.ndarray, index_map: np.ndarray, shape: tuple[int, int, int], k: int) -> np.ndarray:
    target = np.mgrid[0 : shape[0], 0 : shape[1], k : k + 1].reshape(3, -1).astype(np.float64)
    coords = index_map[:3, :3] @ target + index_map[:3, 3:]
    limits = np.asarray(values.shape, dtype=np.float64)[:, None]
    inside = np.all((coords >= -0.5 - _INSIDE_TOLERANCE) & (coords <= limits - 0.5 + _INSIDE_TOLERANCE), axis=0)
    index = np.clip(np.floor(coords + 0.5), 0, limits - 1).astype(np.intp)
    picked = values[index[0], index[1], index[2]]
    picked[~inside] = 0
    return picked.reshape(shape[0], shape[1])


def check_same_geometry(labels: Volume, image: Volume) -> None:
    if labels.shape != image.shape:
        raise InputError(
            f"The label map has shape {labels.shape}, its image {image.shape}; "
            f"labels must be drawn on the image's own grid",
            Reason.LABEL_GEOMETRY,
        )
    corners = np.array([[*corner, 1.0] for corner in itertools.product(*((0, n - 1) for n in labels.shape))])
    moved = np.abs((labels.affine - image.affine) @ corners.T).max()
    if moved > AFFINE_TOLERANCE_MM:
        raise InputError(
            f"The label map's voxels sit up to {moved:.3g} mm away from its image's "
            f"(at most {AFFINE_TOLERANCE_MM} mm expected); fix the label file's header or its pairing",
            Reason.LABEL_GEOMETRY,
        )


def integer_labels(array: np.ndarray) -> np.ndarray:
    """The label values as uint8 (up to 255) or uint16; anything else is ``bad_labels``."""
    low, high = (array.min(), array.max()) if array.size else (0, 0)
    if low < 0 or high > _UINT16_MAX:
        raise InputError(f"Label values must lie in 0..{_UINT16_MAX}, got {low}..{high}", Reason.BAD_LABELS)
    if not np.issubdtype(array.dtype, np.integer) and not np.array_equal(array, np.round(array)):
        raise InputError("Label values must be whole numbers; the label map holds fractions", Reason.BAD_LABELS)
    return array.astype(np.uint8 if high <= _UINT8_MAX else np.uint16)


def label_counts(array: np.ndarray) -> tuple[list[int], list[int]]:
    """Label values present (background 0 excluded) and their voxel counts."""
    counts = np.bincount(array.ravel())
    values = [int(v) for v in np.flatnonzero(counts) if v != 0]
    return values, [int(counts[v]) for v in values]
