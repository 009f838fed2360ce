"""The content fingerprint: one descriptor per 3 mm of z, in the body's own frame."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from corpus.phantom import affine_from, random_torso, render
from corpus.preprocess.fingerprint import (
    GRID,
    HU_PER_LEVEL,
    STEP_MM,
    content_fingerprint,
    decode,
    encode,
    slab_descriptors,
)

SPACING = (1.5, 1.5, 1.5)


@pytest.fixture(scope="module")
def body() -> np.ndarray:
    shape = (240, 180, 100)
    affine = affine_from(SPACING, np.eye(3), (0.0, 0.0, 0.0), shape)
    hu = render(affine, shape, noise_hu=10.0, anatomy=random_torso(np.random.default_rng(3)))
    return np.rint(hu).astype(np.int16)


def test_one_descriptor_per_step_of_z_and_a_compact_code(body):
    descriptors = slab_descriptors(body, SPACING)
    assert descriptors.shape == (int(body.shape[2] * SPACING[2] // STEP_MM), GRID * GRID)
    text = content_fingerprint(body, SPACING)["fingerprint"]
    assert len(text) < 24 * len(descriptors) + 16  # 16 bytes a slab, base64
    decoded = decode(text)
    assert decoded is not None
    assert np.abs(decoded - descriptors).max() <= HU_PER_LEVEL / 2 + 1e-3


def test_slabs_without_body_are_empty_and_survive_the_code(body):
    padded = np.full((*body.shape[:2], body.shape[2] + 20), -1024, dtype=np.int16)
    padded[:, :, 20:] = body  # 30 mm of air below the body
    decoded = decode(encode(slab_descriptors(padded, SPACING)))
    assert decoded is not None
    assert np.isnan(decoded[:10, 0]).all() and not np.isnan(decoded[10:, 0]).any()


def test_descriptors_follow_the_body_not_the_field_of_view(body):
    reference = slab_descriptors(body, SPACING)
    moved = np.full((300, 260, body.shape[2]), -1024, dtype=np.int16)
    moved[45:285, 61:241] = body  # the same body elsewhere in a larger field of view
    assert np.abs(slab_descriptors(moved, SPACING) - reference).mean() < 2.5  # binning shifts by half a bin
    stretched = ndimage.zoom(body, (1.15, 1.1, 1.0), order=1)  # a rewritten in-plane spacing, resampled
    assert np.abs(slab_descriptors(stretched, SPACING) - reference).mean() < 6.0


def test_other_versions_and_garbage_decode_to_nothing():
    assert decode(None) is None
    assert decode("") is None
    assert decode("not base64 !") is None
    assert decode(encode(np.zeros((2, GRID * GRID)))[:-4]) is None  # a cut slab


def test_cost_per_volume_is_small_next_to_ingest(body):
    started = time.perf_counter()
    content_fingerprint(body, SPACING)
    seconds = time.perf_counter() - started
    print(f"\nfingerprint of {body.size / 1e6:.1f} M voxels: {seconds * 1e3:.0f} ms")
    assert seconds < 5.0  # a loose bound: this machine may be shared
