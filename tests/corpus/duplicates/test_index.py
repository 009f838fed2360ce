"""Blocking: copies share tokens, other bodies rarely do, and popular tokens are skipped."""

from __future__ import annotations

import numpy as np

from corpus.duplicates.index import MAX_POSTING, candidate_pairs, slab_tokens
from corpus.preprocess.fingerprint import encode
from tests.corpus.duplicates.test_align import resampled, walk


def test_tokens_are_reproducible_and_skip_empty_slabs():
    sequence = walk(0)
    assert np.array_equal(slab_tokens(sequence), slab_tokens(sequence.copy()))
    holes = sequence.copy()
    holes[::2] = np.nan
    assert len(slab_tokens(holes)) < len(slab_tokens(sequence))


def test_copies_become_candidates_and_others_do_not():
    bodies = [walk(seed) for seed in range(40)]
    fingerprints = [encode(b) for b in bodies] + [encode(resampled(bodies[7], 1.2, 5.0, 90)), None]
    pairs = {tuple(pair) for pair in candidate_pairs(fingerprints).tolist()}
    assert (7, 40) in pairs
    assert len(pairs) <= 3


def test_with_sides_only_pairs_across_sides_are_proposed():
    body = encode(walk(5))
    sides = np.array([0, 0, 1])
    assert candidate_pairs([body, body, body], sides).tolist() == [[0, 2], [1, 2]]


def test_a_token_every_volume_holds_says_nothing():
    same = [encode(walk(6))] * (MAX_POSTING + 1)
    assert len(candidate_pairs(same)) == 0


def test_rows_without_fingerprints_propose_no_pair():
    """A corpus built before fingerprints existed has only nulls: no candidate, no crash."""
    for fingerprints in ([None], [None, None, ""], []):
        pairs = candidate_pairs(fingerprints)
        assert pairs.shape == (0, 2)
