"""Scans of randomized anatomy, and one scan as collections re-publish it: resampled, flipped, relabelled, cut."""

from __future__ import annotations

import numpy as np

from corpus.phantom import affine_from, random_torso, render

REWRITE = (1.1, 1.1, 0.8)  # a spacing header rewritten by these factors; the voxels stay as they were
KEPT_SLICES = 0.6


def random_scan(seed: int, spacing: tuple[float, float, float] = (1.6, 1.6, 3.0)) -> tuple[np.ndarray, np.ndarray]:
    """int16 HU and RAS affine of a body drawn from ``seed``: its anatomy, field of view, z range and noise."""
    rng = np.random.default_rng(seed)
    anatomy = random_torso(rng)
    field = rng.uniform(360.0, 440.0)
    z_extent = rng.uniform(180.0, 300.0)
    shape = (int(field / spacing[0]), int(0.85 * field / spacing[1]), int(z_extent / spacing[2]))
    centre = (rng.uniform(-10, 10), rng.uniform(-10, 10), rng.uniform(-60, 60))
    affine = affine_from(spacing, np.eye(3), centre, shape)
    hu = render(affine, shape, noise_hu=rng.uniform(5.0, 30.0), seed=seed, anatomy=anatomy)
    return np.rint(hu).astype(np.int16), affine


def rewritten(hu: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels under another spacing header (LiTS-style)."""
    return hu, affine @ np.diag([*REWRITE, 1.0])


def flipped_to_lps(hu: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same voxels in the same place, stored with x and y running to patient left and posterior reversed."""
    flipped = affine.copy()
    flipped[:3, :2] *= -1
    flipped[:3, 3] = affine[:3, 3] + affine[:3, 0] * (hu.shape[0] - 1) + affine[:3, 1] * (hu.shape[1] - 1)
    return np.ascontiguousarray(hu[::-1, ::-1]), flipped


def cropped(hu: np.ndarray, affine: np.ndarray, start: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """KEPT_SLICES of the slices, from ``start`` of the way up."""
    first = int(start * hu.shape[2])
    kept = int(KEPT_SLICES * hu.shape[2])
    moved = affine.copy()
    moved[:3, 3] = affine[:3, :3] @ (0.0, 0.0, first) + affine[:3, 3]
    return np.ascontiguousarray(hu[:, :, first : first + kept]), moved
