"""Quality facts computed at build time, against phantoms whose anatomy is known."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.phantom import affine_from, render
from corpus.preprocess.intensity import hu_percentiles
from corpus.preprocess.qc import assess


def torso(affine_rotation: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float]]:
    shape = (240, 180, 60)
    hu = render(affine_from((1.5, 1.5, 1.5), affine_rotation, (0, 0, -20), shape), shape, noise_hu=0.0)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), (1.5, 1.5, 1.5)


def test_body_box_fraction_and_flags_on_a_known_torso():
    stored, spacing = torso(np.eye(3))
    facts = assess(stored, spacing, hu_percentiles(stored))
    # the torso ellipse is 340 x 240 mm around RAS (0, 0): x voxels 7..233, y 10..170 of this grid
    x0, y0, _, x1, y1, _ = facts.body_bbox
    assert abs((x1 - x0) * 1.5 - 340) <= 6 and abs((y1 - y0) * 1.5 - 240) <= 6
    assert facts.body_fraction == pytest.approx(np.mean(stored > -500), abs=0.02)
    assert not facts.suspect_orientation and not facts.suspect_non_ct


def test_an_anterior_posterior_flip_is_suspected():
    stored, spacing = torso(np.eye(3))
    flipped = stored[:, ::-1, :]  # what a sign error in the y direction stores
    assert assess(flipped, spacing, hu_percentiles(flipped)).suspect_orientation


def test_a_non_ct_intensity_profile_is_suspected():
    stored, spacing = torso(np.eye(3))
    mr_like = ((stored.astype(np.int32) + 1024) // 4).astype(np.int16)  # 0..1000, no air value
    assert assess(mr_like, spacing, hu_percentiles(mr_like)).suspect_non_ct
