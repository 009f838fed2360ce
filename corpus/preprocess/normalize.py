"""Volume -> stored array: RAS+ grid at the spec spacing, clipped, int16."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.preprocess.grid import Grid, target_grid
from corpus.preprocess.resample import resample
from corpus.readers.volume import Volume
from corpus.spec import BuildSpec


@dataclass(frozen=True)
class Normalized:
    """A volume on its target grid, ready to store."""

    array: np.ndarray  # int16 (x, y, z) RAS+
    grid: Grid


def normalize(volume: Volume, spec: BuildSpec, threads: int = 1) -> Normalized:
    """Reorient and resample to RAS+ at ``spec.spacing``, clip HU, cast to int16, in one pass.

    Values below the clip floor (padding, out-of-field markers such as -2000
    or -3024) become air before interpolation so they cannot bleed into
    tissue; bright values are clipped after, as the scanner measured them.
    """
    grid = target_grid(volume.shape, volume.affine, spec.spacing, volume.slice_positions)
    stored = resample(
        volume.array,
        volume.affine,
        grid,
        float(spec.fill_value),
        volume.slice_positions,
        floor=float(spec.fill_value),
        clip=(float(spec.clip[0]), float(spec.clip[1])),
        threads=threads,
        arrival=volume.arrival,
    )
    return Normalized(array=stored, grid=grid)
