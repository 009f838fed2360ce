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


def phantom_nifti(
    path: Path, spacing: tuple[float, ...], shape: tuple[int, ...], centre_z: float, seed: int, lps: bool = True
) -> Path:
    """A generated int16 torso ``.nii.gz`` (LPS axes like most scanners' exports), written once and reused."""
    from corpus.phantom import affine_from, render

    if not path.exists():
        rotation = np.diag([-1.0, -1.0, 1.0]) if lps else np.eye(3)
        affine = affine_from(spacing, rotation, (0.0, 0.0, centre_z), shape)
        nib.save(nib.Nifti1Image(np.rint(render(affine, shape, seed=seed)).astype(np.int16), affine), path)
    return path
