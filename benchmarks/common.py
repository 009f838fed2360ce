"""What the benchmarks share: timing, and comparing two volumes on one 1.5 mm lattice."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """Fastest of ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def aligned_difference(a: np.ndarray, origin_a: np.ndarray, b: np.ndarray, origin_b: np.ndarray) -> float:
    """Mean |a - b| over the voxels both grids share (same 1.5 mm lattice, offset by whole voxels)."""
    offset = np.rint((np.asarray(origin_b) - np.asarray(origin_a)) / 1.5).astype(int)
    start, stop = np.maximum(offset, 0), np.minimum(a.shape, offset + np.asarray(b.shape))
    part_a = a[tuple(slice(i, j) for i, j in zip(start, stop, strict=True))].astype(np.float64)
    part_b = b[tuple(slice(i - o, j - o) for i, j, o in zip(start, stop, offset, strict=True))]
    return float(np.mean(np.abs(part_a - part_b)))


def world_difference(a: np.ndarray, affine_a: np.ndarray, b: np.ndarray, affine_b: np.ndarray) -> float:
    """Mean |a - b| at b's voxel centres (every 2nd per axis) that lie inside a, a read trilinearly.

    On a shared lattice the centres land on a's voxels and the values are
    exact; for grids that are not (an oblique output) it adds one interpolation.
    """
    from scipy import ndimage

    index = np.stack(np.meshgrid(*[np.arange(0, n, 2) for n in b.shape], indexing="ij")).reshape(3, -1)
    into_a = np.linalg.inv(affine_a) @ affine_b
    coords = into_a[:3, :3] @ index + into_a[:3, 3:]
    inside = np.all((coords >= 0) & (coords <= np.asarray(a.shape)[:, None] - 1), axis=0)
    values_a = ndimage.map_coordinates(a.astype(np.float32), coords[:, inside], order=1, prefilter=False)
    values_b = b[tuple(index[:, inside])]
    return float(np.mean(np.abs(values_a - values_b)))


def phantom_nifti(
    path: Path,
    spacing: tuple[float, ...],
    shape: tuple[int, ...],
    centre_z: float,
    seed: int,
    lps: bool = True,
    rotation: np.ndarray | None = None,
) -> Path:
    """A generated int16 torso ``.nii.gz`` (LPS axes like most scanners' exports, or ``rotation``), written once."""
    from corpus.phantom import affine_from, render

    if not path.exists():
        axes = np.diag([-1.0, -1.0, 1.0]) if lps else np.eye(3)
        affine = affine_from(spacing, axes if rotation is None else rotation @ axes, (0.0, 0.0, centre_z), shape)
        nib.save(nib.Nifti1Image(np.rint(render(affine, shape, seed=seed)).astype(np.int16), affine), path)
    return path


def phantom_dicom_series(folder: Path, slices: int, tilt_degrees: float = 0.0, size: int = 512) -> Path:
    """A generated CT series, one int16 file per slice at 0.7 mm pixels, 1.25 mm table steps, written once.

    A gantry tilt turns the image plane about the x axis while the table moves
    along z: the stack is sheared.
    """
    from corpus.phantom_dicom import SeriesSpec, write_series

    if not folder.exists():
        tilt = np.deg2rad(tilt_degrees)
        half = 0.7 * (size - 1) / 2
        column = (0.0, float(np.cos(tilt)), float(np.sin(tilt)))
        corner = (-half, -half * column[1], -half * column[2])
        positions = [(corner[0], corner[1], corner[2] + 1.25 * (k - slices / 2)) for k in range(slices)]
        spec = SeriesSpec(size, size, (0.7, 0.7), (1.0, 0.0, 0.0), column, positions)
        write_series(folder, spec, noise_hu=15.0)
    return folder
