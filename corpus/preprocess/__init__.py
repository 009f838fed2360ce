"""Reorient and resample to the target grid, clip HU, summarize intensities."""

from corpus.preprocess.grid import Grid, target_grid
from corpus.preprocess.normalize import Normalized, normalize

__all__ = ["Grid", "Normalized", "normalize", "target_grid"]
