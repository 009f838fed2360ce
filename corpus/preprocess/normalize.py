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

    Values below the clip floor (padding, out-of-field markers such as -2000
    or -3024) become air before interpolation so they cannot bleed into
    tissue; bright values are clipped after, as the scanner measured them.
    """
    grid = target_grid(volume.shape, volume.affine, spec.spacing, volume.slice_positions)
    array = _floor_at_air(volume.array, spec.fill_value)
    hu = resample(array, volume.affine, grid, float(spec.fill_value), volume.slice_positions)
    return Normalized(array=clip_to_int16(hu, spec.clip), grid=grid)


def _floor_at_air(array: np.ndarray, air: int) -> np.ndarray:
    if array.min() >= air:
        return array
    floor = np.asarray(air).astype(array.dtype)
    if array.flags.writeable and array.flags.owndata:  # the reader's own copy: no second one
        return np.maximum(array, floor, out=array)
    return np.maximum(array, floor)
