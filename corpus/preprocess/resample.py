"""Trilinear resampling of a volume onto a target grid.

Semantics: a target voxel takes the trilinear interpolation of the input at
its centre; inside the half-voxel rim of the input's field of view the edge
value holds; beyond it the voxel gets ``fill``. Uneven slice positions
interpolate between the two real neighbouring slices. Every input (axis
aligned, permuted, oblique, sheared by gantry tilt, even or uneven) takes the
same compiled, threaded pass (corpus.preprocess.trilinear), which can also
floor the input, clip and cast to int16 on the way, so no full-size float
copy of the input or the output is ever made.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial

import numpy as np

from corpus.preprocess.grid import RIM_TOLERANCE, Grid
from corpus.readers.arrival import Arrival

_NO_CLIP = (-np.inf, np.inf)
_SLAB = 8  # output planes per step while the input still arrives
Table = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # inside, lower, upper, weight along one axis
Sampling = tuple[float, tuple[float, float], float, int]  # floor, clip, fill, threads


def resample(
    array: np.ndarray,
    affine: np.ndarray,
    grid: Grid,
    fill: float,
    slice_positions: np.ndarray | None = None,
    *,
    floor: float = -np.inf,
    clip: tuple[float, float] | None = None,
    threads: int = 1,
    arrival: Arrival | None = None,
) -> np.ndarray:
    """Resample ``array`` (voxel -> RAS mm by ``affine``) onto ``grid``.

    Input values below ``floor`` count as ``floor`` before interpolation.
    Without ``clip`` the result is float32; with it, int16 clipped to ``clip``
    and rounded half to even. With ``slice_positions`` (uneven stacks), the
    affine's third coordinate is mm along the stack and maps to a fractional
    slice index piecewise-linearly. With ``arrival`` (voxels still decoding
    along the input's last axis), output slabs are computed as the input
    planes they need come in.
    """
    if arrival is not None and not (array.flags.f_contiguous and array.dtype.isnative):
        arrival.wait_all()  # the source would be copied: copy it whole
    source, index_map, slow_axis = _c_ordered(array, np.linalg.inv(affine) @ grid.affine)
    order = _loop_order(index_map)
    out = np.empty(grid.shape, dtype=np.float32 if clip is None else np.int16)
    stack = None if slice_positions is None else (slow_axis, *slice_knots(slice_positions))
    # While the input arrives, its decoder keeps one of the threads busy.
    sampling = (floor, clip or _NO_CLIP, fill, threads if arrival is None else max(1, threads - 1))
    view = out.transpose(order)
    permutation = _axis_permutation(index_map, grid.shape)
    if permutation is None:
        view_map = np.concatenate([index_map[:3, list(order)], index_map[:3, 3:]], axis=1)
        run = partial(_affine_slab, source, view, view_map, stack, sampling)
        needed = partial(_planes_for_affine_slab, view_map[slow_axis], view.shape, stack, source.shape[slow_axis])
    else:
        tables = [_axis_table(index_map, source.shape, (permutation[j], j), grid.shape[j], stack) for j in order]
        source_view = source.transpose([permutation[j] for j in order])
        run = partial(_separable_slab, source_view, view, tables, sampling)
        along_slow = permutation[order[0]] == slow_axis
        needed = partial(_planes_for_table_slab, tables[0][2] if along_slow else None, source.shape[slow_axis])
    _as_planes_arrive(run, needed, view.shape[0], arrival)
    return out


def _as_planes_arrive(
    run: Callable[[int, int], None], needed: Callable[[int, int], int], count: int, arrival: Arrival | None
) -> None:
    """Run the outer-loop slabs [start, stop) in turn, each once the input planes it needs are in."""
    if arrival is None:
        run(0, count)
        return
    for start in range(0, count, _SLAB):
        stop = min(start + _SLAB, count)
        arrival.wait(needed(start, stop))
        run(start, stop)


def _separable_slab(
    source: np.ndarray, view: np.ndarray, tables: list[Table], sampling: Sampling, start: int, stop: int
) -> None:
    outer = tuple(column[start:stop] for column in tables[0])
    from corpus.preprocess.trilinear import sample_separable  # numba: imported by builds, not by readers

    sample_separable(source, view[start:stop], [outer, tables[1], tables[2]], *sampling)  # type: ignore[list-item]


def _affine_slab(
    source: np.ndarray,
    view: np.ndarray,
    view_map: np.ndarray,
    stack: tuple[int, np.ndarray, np.ndarray] | None,
    sampling: Sampling,
    start: int,
    stop: int,
) -> None:
    from corpus.preprocess.trilinear import sample

    shifted = view_map.copy()
    shifted[:, 3] += view_map[:, 0] * start
    sample(source, view[start:stop], shifted, stack, *sampling)


def _planes_for_table_slab(uppers: np.ndarray | None, total: int, start: int, stop: int) -> int:
    return total if uppers is None else int(uppers[start:stop].max()) + 1


def _planes_for_affine_slab(
    row: np.ndarray,
    shape: tuple[int, ...],
    stack: tuple[int, np.ndarray, np.ndarray] | None,
    total: int,
    start: int,
    stop: int,
) -> int:
    """Input planes up to the farthest one the slab's corners reach, plus the upper neighbour.

    ``row`` maps a view index to the input's slow coordinate: mm along the stack
    when there is one (mapped to slices through its knots), else a plane index.
    """
    corners = np.array(list(itertools.product((start, stop - 1), (0, shape[1] - 1), (0, shape[2] - 1))))
    farthest = float((corners @ row[:3] + row[3]).max())
    if stack is not None:
        farthest = float(np.interp(farthest, stack[1], stack[2]))
    return int(min(max(np.ceil(farthest) + 2, 1), total))


def _c_ordered(array: np.ndarray, index_map: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """A C-ordered source, the index map onto it, and where the stack axis (input axis 2) went.

    NIfTI arrays come Fortran-ordered: their transpose is C-ordered, so reverse
    the map's rows instead of copying the input. Big-endian voxels are swapped
    to native order (the compiled sampler reads native numbers only).
    """
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="), order="A")
    if not array.flags.c_contiguous and array.T.flags.c_contiguous:
        return array.T, index_map[[2, 1, 0, 3]], 0
    return np.ascontiguousarray(array), index_map, 2


def _loop_order(index_map: np.ndarray) -> tuple[int, int, int]:
    """Output axes outermost to innermost: the innermost walks the input's fastest axis (cache lines)."""
    weight = np.abs(index_map[:3, :3])
    inner = int(np.argmax(weight[2]))
    rest = [axis for axis in range(3) if axis != inner]
    outer = max(rest, key=lambda axis: weight[0, axis])
    middle = rest[0] if rest[1] == outer else rest[1]
    return outer, middle, inner


def slice_knots(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (mm along the stack) and the slice index at each: the outer half-slices included."""
    n = len(positions)
    first = positions[0] - (positions[1] - positions[0]) / 2
    last = positions[-1] + (positions[-1] - positions[-2]) / 2
    knots = np.r_[first, positions, last].astype(np.float64)
    return knots, np.r_[-0.5, np.arange(n, dtype=np.float64), n - 0.5]


def _axis_permutation(index_map: np.ndarray, shape: tuple[int, int, int]) -> list[int] | None:
    """Input axis for each output axis when the map only scales, flips and permutes."""
    linear = np.abs(index_map[:3, :3])
    permutation = [int(np.argmax(linear[:, j])) for j in range(3)]
    if sorted(permutation) != [0, 1, 2]:
        return None
    residual = linear.copy()
    residual[permutation, [0, 1, 2]] = 0.0
    # Off-axis terms that move no sample by 1/1000 voxel are float noise.
    return permutation if residual.max() * max(shape) < 1e-3 else None


def _axis_table(
    index_map: np.ndarray,
    source_shape: tuple[int, ...],
    axes: tuple[int, int],
    count: int,
    stack: tuple[int, np.ndarray, np.ndarray] | None,
) -> Table:
    """Along output axis ``axes[1]`` (``count`` voxels) sampling input axis ``axes[0]``: inside the
    field of view, lower and upper input neighbour, weight of the upper one."""
    source_axis, axis = axes
    coords = index_map[source_axis, axis] * np.arange(count) + index_map[source_axis, 3]
    if stack is not None and source_axis == stack[0]:
        knots, indices = stack[1:]
        coords = np.interp(coords, knots, indices, left=indices[0] - 0.5, right=indices[-1] + 0.5)
    size = source_shape[source_axis]
    inside = (coords >= -0.5 - RIM_TOLERANCE) & (coords <= size - 0.5 + RIM_TOLERANCE)
    clamped = np.clip(coords, 0.0, size - 1.0)
    lower = np.minimum(np.floor(clamped).astype(np.intp), max(size - 2, 0))
    upper = np.minimum(lower + 1, size - 1)
    return inside, lower, upper, clamped - lower
