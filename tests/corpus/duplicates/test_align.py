"""Alignment of fingerprints: stretched, shifted stretches of one sequence are found; look-alikes are not."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.duplicates.align import MIN_OVERLAP_MM, align
from corpus.preprocess.fingerprint import STEP_MM


def walk(seed: int, slabs: int = 100) -> np.ndarray:
    """A sequence of 16-box descriptors that changes smoothly along z, like anatomy does."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 25.0, size=(slabs, 16))
    return np.clip(np.cumsum(steps, axis=0) + rng.uniform(-800, 200, size=16), -1000, 1000).astype(np.float32)


def resampled(sequence: np.ndarray, scale: float, start: float, count: int) -> np.ndarray:
    """Rows at positions start + k / scale, linearly interpolated (a z stretch and a crop)."""
    positions = start + np.arange(count) / scale
    low = np.clip(np.floor(positions).astype(int), 0, len(sequence) - 2)
    weight = (positions - low)[:, None]
    return sequence[low] * (1 - weight) + sequence[low + 1] * weight


def test_a_sequence_matches_itself_exactly():
    found = align(walk(0), walk(0))
    assert found is not None and found.is_duplicate
    assert found.cost_hu == 0 and found.scale == pytest.approx(1.0)


@pytest.mark.parametrize(("scale", "start", "count"), [(1.25, 0.0, 120), (0.8, 10.0, 60), (1.0, 20.0, 60)])
def test_stretched_and_cut_copies_are_duplicates_with_their_scale(scale, start, count):
    original = walk(1)
    copy = resampled(original, scale, start, count)
    found = align(copy, original)
    assert found is not None and found.is_duplicate, found
    copy_is_longer = count > len(original)
    assert found.scale == pytest.approx(scale if copy_is_longer else 1 / scale, rel=0.02)  # longer per shorter
    assert found.evidence()["z_overlap_fraction"] >= 0.94


def test_other_sequences_and_featureless_bodies_are_not_duplicates():
    assert not align(walk(2), walk(3)).is_duplicate  # type: ignore[union-attr]
    rng = np.random.default_rng(0)
    cylinder = np.full((80, 16), 40.0, dtype=np.float32)  # matches itself anywhere: proves nothing
    found = align(cylinder + rng.normal(0, 1, cylinder.shape), cylinder + rng.normal(0, 1, cylinder.shape))
    assert found is None or (found.cost_hu < 3 and not found.is_duplicate)


def test_too_little_body_to_judge_gives_no_alignment():
    short = walk(4, slabs=int(MIN_OVERLAP_MM / STEP_MM) - 1)
    assert align(short, walk(4)) is None
    empty = np.full((50, 16), np.nan, dtype=np.float32)
    assert align(empty, walk(4)) is None
