"""The target grid: RAS+, axis-aligned, at the spec spacing, covering the input."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

# Output voxel centres this close (in output voxels) to the field-of-view edge
# count as outside, so a 3 mm input gives 2n-1 voxels at 1.5 mm, as MONAI does.
EDGE_TOLERANCE = 1e-4
# Resampling: an input coordinate this close (in input voxels) beyond the half-voxel rim still counts as inside.
RIM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Grid:
    """An axis-aligned RAS+ grid: voxel (i, j, k) sits at origin + (i, j, k) * spacing."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]

    @property
    def affine(self) -> np.ndarray:
        affine = np.diag([*self.spacing, 1.0])
        affine[:3, 3] = self.origin
        return affine


def target_grid(
    shape: tuple[int, int, int],
    affine: np.ndarray,
    spacing: tuple[float, float, float],
    slice_positions: np.ndarray | None = None,
) -> Grid:
    """Every point of the target lattice that lies inside the input's field of view.

    The lattice is anchored at the input voxel centre nearest the RAS minimum
    corner (MONAI ``Spacing`` anchors the same way, so both grids coincide);
    the field of view extends half an input voxel beyond the outer centres.
    The output extent therefore matches the input's within one target voxel.
    ``slice_positions``: see :class:`corpus.readers.Volume`.
    """
    centre_ranges, edge_ranges = index_ranges(shape, slice_positions)
    centres = _world_corners(affine, centre_ranges)
    edges = _world_corners(affine, edge_ranges)
    step = np.asarray(spacing)
    anchor = centres.min(axis=0)
    below = _lattice_steps(anchor - edges.min(axis=0), step)
    above = _lattice_steps(edges.max(axis=0) - anchor, step)
    origin = anchor - below * step
    size = below + above + 1
    return Grid(
        shape=(int(size[0]), int(size[1]), int(size[2])),
        spacing=(float(step[0]), float(step[1]), float(step[2])),
        origin=(float(origin[0]), float(origin[1]), float(origin[2])),
    )


def index_ranges(
    shape: tuple[int, int, int], slice_positions: np.ndarray | None = None
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Per axis, in affine coordinates: (first, last) voxel centre, and the field-of-view edges."""
    centres = [(0.0, n - 1.0) for n in shape]
    edges = [(-0.5, n - 0.5) for n in shape]
    if slice_positions is not None:
        first, last = float(slice_positions[0]), float(slice_positions[-1])
        half_first = (slice_positions[1] - slice_positions[0]) / 2
        half_last = (slice_positions[-1] - slice_positions[-2]) / 2
        centres[2] = (first, last)
        edges[2] = (float(first - half_first), float(last + half_last))
    return centres, edges


def _world_corners(affine: np.ndarray, ranges: list[tuple[float, float]]) -> np.ndarray:
    corners = np.array([[*corner, 1.0] for corner in itertools.product(*ranges)])
    return (affine @ corners.T).T[:, :3]


def _lattice_steps(distance: np.ndarray, step: np.ndarray) -> np.ndarray:
    """How many whole steps from the anchor stay strictly inside ``distance``."""
    return np.maximum(np.ceil(distance / step - EDGE_TOLERANCE) - 1, 0).astype(np.int64)
