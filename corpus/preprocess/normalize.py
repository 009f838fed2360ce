"""Volume -> stored array: RAS+ grid at the spec spacing, clipped, int16."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corpus.preprocess.grid import Grid, target_grid
from corpus.preprocess.intensity import clip_to_int16
from corpus.preprocess.resample import resample
from corpus.readers.volume import Volume
from corpus.spec import BuildSpec


@dataclass(frozen=True)
class Normalized:
    """A volume on its target grid, ready to store."""

    array: np.ndarray  # int16 (x, y, z) RAS+
    grid: Grid


def normalize(volume: Volume, spec: BuildSpec) -> Normalized:
    """Reorient and resample to RAS+ at ``spec.spacing``, clip HU, cast to int16.

    Resampling happens in HU before clipping, so values just outside the clip
    range still pull their neighbours the way the scanner measured them.
    """
    grid = target_grid(volume.shape, volume.affine, spec.spacing)
    hu = resample(volume.array, volume.affine, grid, fill=float(spec.fill_value))
    return Normalized(array=clip_to_int16(hu, spec.clip), grid=grid)
