"""Intensity summaries of a stored volume (clipping happens in the resampling pass)."""

from __future__ import annotations

import numpy as np


def hu_percentiles(stored: np.ndarray, quantiles: tuple[float, ...] = (1.0, 50.0, 99.0)) -> tuple[float, ...]:
    """Percentiles of the stored voxels; every 2nd voxel per axis is plenty and 8x cheaper."""
    sample = stored[::2, ::2, ::2]
    return tuple(float(v) for v in np.percentile(sample, quantiles))
