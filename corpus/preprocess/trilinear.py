"""The compiled trilinear sampler: one threaded pass from input voxels to output voxels.

Two loops share one blend. ``sample`` maps each output voxel through an
affine (oblique and sheared inputs); ``sample_separable`` takes per-axis
tables of neighbours and weights, for the common input whose axes only scale,
flip and permute onto the output's (no per-voxel coordinates to compute).
In both, each output voxel maps to a continuous input index; beyond
the half-voxel rim of the input's field of view it gets ``fill``; inside, its
eight neighbours (clamped at the edges, so the edge value holds in the rim)
are raised to ``floor`` and blended trilinearly in float64, then clipped to
[low, high] and, for integer outputs, rounded half to even. One stack axis
may map piecewise-linearly through ``knots`` (uneven slice positions).

numba compiles one specialization per (input dtype, output dtype) on first
use and caches it on disk; the launch lock serializes calls because numba's
default thread pool refuses concurrent launches from several threads.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
from numba import njit, prange

from corpus.preprocess.grid import RIM_TOLERANCE

_LAUNCH = threading.Lock()
_MOST_THREADS: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]


def sample(
    source: np.ndarray,
    out: np.ndarray,
    index_map: np.ndarray,
    stack: tuple[int, np.ndarray, np.ndarray] | None,
    floor: float,
    clip: tuple[float, float],
    fill: float,
    threads: int,
) -> None:
    """Fill ``out`` (any strides) from C-contiguous ``source``.

    ``index_map`` (3 x 4) maps an output index to an input index; ``stack`` is
    (input axis, knots, knot indices) for a piecewise-linear axis, or None.
    """
    axis, knots, indices = stack if stack is not None else (-1, np.empty(0), np.empty(0))
    with _LAUNCH:
        numba.set_num_threads(max(1, min(threads, _MOST_THREADS)))
        _fill(source, out, index_map, axis, knots, indices, _levels(floor, clip, fill), out.dtype.kind in "iu")


def sample_separable(
    source: np.ndarray,
    out: np.ndarray,
    tables: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    floor: float,
    clip: tuple[float, float],
    fill: float,
    threads: int,
) -> None:
    """Fill ``out`` from ``source`` whose axis j is sampled along out axis j (any strides on both).

    ``tables[j]`` = (inside, lower, upper, weight of upper) per index of out axis j.
    """
    levels, rounding = _levels(floor, clip, fill), out.dtype.kind in "iu"
    with _LAUNCH:
        numba.set_num_threads(max(1, min(threads, _MOST_THREADS)))
        _fill_separable(source, out, *tables[0], *tables[1], *tables[2], levels, rounding)


def _levels(floor: float, clip: tuple[float, float], fill: float) -> np.ndarray:
    """What the loops take as one argument: floor, clip low, clip high, fill."""
    return np.array([floor, clip[0], clip[1], fill], dtype=np.float64)


@njit(cache=True, nogil=True)
def _piecewise(coordinate: float, knots: np.ndarray, indices: np.ndarray) -> float:
    """np.interp with 'clearly outside' values beyond the first and last knot."""
    last = len(knots) - 1
    if coordinate < knots[0]:
        return indices[0] - 0.5
    if coordinate > knots[last]:
        return indices[last] + 0.5
    right = min(max(int(np.searchsorted(knots, coordinate)), 1), last)
    left = right - 1
    span = knots[right] - knots[left]
    weight = (coordinate - knots[left]) / span if span > 0 else 0.0
    return indices[left] + weight * (indices[right] - indices[left])


@njit(cache=True, nogil=True)
def _corner(size: int, coordinate: float) -> tuple[int, int, float]:
    """Lower and upper neighbour and the weight of the upper one, clamped to the array."""
    clamped = min(max(coordinate, 0.0), size - 1.0)
    lower = min(int(clamped), max(size - 2, 0))
    upper = min(lower + 1, size - 1)
    return lower, upper, clamped - lower


@njit(cache=True, nogil=True)
def _blend(source: np.ndarray, c0: float, c1: float, c2: float, floor: float) -> float:
    i0, j0, w0 = _corner(source.shape[0], c0)
    i1, j1, w1 = _corner(source.shape[1], c1)
    i2, j2, w2 = _corner(source.shape[2], c2)
    return _blend_at(source, i0, j0, w0, i1, j1, w1, i2, j2, w2, floor)


@njit(cache=True, nogil=True)
def _blend_at(
    source: np.ndarray,
    i0: int,
    j0: int,
    w0: float,
    i1: int,
    j1: int,
    w1: float,
    i2: int,
    j2: int,
    w2: float,
    floor: float,
) -> float:
    """Trilinear blend of the eight neighbours (lower i, upper j per axis), each raised to ``floor``."""
    v00 = max(float(source[i0, i1, i2]), floor)
    v00 += (max(float(source[i0, i1, j2]), floor) - v00) * w2
    v01 = max(float(source[i0, j1, i2]), floor)
    v01 += (max(float(source[i0, j1, j2]), floor) - v01) * w2
    v10 = max(float(source[j0, i1, i2]), floor)
    v10 += (max(float(source[j0, i1, j2]), floor) - v10) * w2
    v11 = max(float(source[j0, j1, i2]), floor)
    v11 += (max(float(source[j0, j1, j2]), floor) - v11) * w2
    v0 = v00 + (v01 - v00) * w1
    v1 = v10 + (v11 - v10) * w1
    return v0 + (v1 - v0) * w0


@njit(cache=True, nogil=True)
def _inside(coordinate: float, size: int) -> bool:
    return -0.5 - RIM_TOLERANCE <= coordinate <= size - 0.5 + RIM_TOLERANCE


@njit(parallel=True, cache=True, nogil=True)
def _fill(
    source: np.ndarray,
    out: np.ndarray,
    m: np.ndarray,
    stack_axis: int,
    knots: np.ndarray,
    indices: np.ndarray,
    levels: np.ndarray,
    rounding: bool,
) -> None:
    s0, s1, s2 = source.shape
    for a in prange(out.shape[0]):
        for b in range(out.shape[1]):
            for k in range(out.shape[2]):
                c0 = m[0, 0] * a + m[0, 1] * b + m[0, 2] * k + m[0, 3]
                c1 = m[1, 0] * a + m[1, 1] * b + m[1, 2] * k + m[1, 3]
                c2 = m[2, 0] * a + m[2, 1] * b + m[2, 2] * k + m[2, 3]
                if stack_axis == 0:
                    c0 = _piecewise(c0, knots, indices)
                elif stack_axis == 1:
                    c1 = _piecewise(c1, knots, indices)
                elif stack_axis == 2:
                    c2 = _piecewise(c2, knots, indices)
                if not (_inside(c0, s0) and _inside(c1, s1) and _inside(c2, s2)):
                    out[a, b, k] = levels[3]
                    continue
                _store(out, a, b, k, _blend(source, c0, c1, c2, levels[0]), levels, rounding)


@njit(parallel=True, cache=True, nogil=True)
def _fill_separable(
    source: np.ndarray,
    out: np.ndarray,
    inside0: np.ndarray,
    lower0: np.ndarray,
    upper0: np.ndarray,
    weight0: np.ndarray,
    inside1: np.ndarray,
    lower1: np.ndarray,
    upper1: np.ndarray,
    weight1: np.ndarray,
    inside2: np.ndarray,
    lower2: np.ndarray,
    upper2: np.ndarray,
    weight2: np.ndarray,
    levels: np.ndarray,
    rounding: bool,
) -> None:
    for a in prange(out.shape[0]):
        for b in range(out.shape[1]):
            for k in range(out.shape[2]):
                if not (inside0[a] and inside1[b] and inside2[k]):
                    out[a, b, k] = levels[3]
                    continue
                value = _blend_at(
                    source,
                    lower0[a],
                    upper0[a],
                    weight0[a],
                    lower1[b],
                    upper1[b],
                    weight1[b],
                    lower2[k],
                    upper2[k],
                    weight2[k],
                    levels[0],
                )
                _store(out, a, b, k, value, levels, rounding)


@njit(cache=True, nogil=True)
def _store(out: np.ndarray, a: int, b: int, k: int, value: float, levels: np.ndarray, rounding: bool) -> None:
    """Clip to [levels[1], levels[2]]; round half to even for integer outputs."""
    value = min(max(value, levels[1]), levels[2])
    out[a, b, k] = np.rint(value) if rounding else value
