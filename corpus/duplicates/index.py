"""Blocking: which pairs of fingerprints are worth aligning, without comparing every pair.

Each body slab of a fingerprint gives BANDS tokens: its 16 box values cut into
LEVEL_HU cells, each band on its own offset grid (a value near a cell edge
in one band sits inside a cell of the other). A slab's descriptor does not
depend on z spacing or crop, so the same scan, however stretched or cut,
shares many tokens with itself (9 or more in the phantom tests); volumes
sharing at least MIN_SHARED tokens become candidates. A token held by more
than MAX_POSTING volumes describes anatomy everyone has and is skipped, so
the work grows with the number of volumes, not with its square.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus.preprocess.fingerprint import AIR_HU, HU_PER_LEVEL, SLAB_BYTES, decode_levels

BANDS = 2
LEVEL_HU = 48.0
MIN_SHARED = 4
MAX_POSTING = 16
_OFFSETS = np.random.default_rng(16).uniform(0.0, LEVEL_HU, size=(BANDS, 16))  # fixed: tokens must be reproducible
_MULTIPLIERS = np.random.default_rng(17).integers(1, 2**62, size=(BANDS, 16), dtype=np.uint64) | np.uint64(1)
_BATCH = 4096  # fingerprints decoded together: all their slabs tokenized in one go, memory bounded


def slab_tokens(fingerprint: np.ndarray) -> np.ndarray:
    """The distinct tokens of one fingerprint (slabs x 16 HU, NaN rows = no body), as uint64."""
    return np.unique(_cell_tokens(fingerprint[~np.isnan(fingerprint[:, 0])]))


def candidate_pairs(fingerprints: Sequence[str | None], sides: np.ndarray | None = None) -> np.ndarray:
    """(k, 2) row pairs i < j whose stored fingerprints share at least MIN_SHARED specific tokens; with
    ``sides``, only pairs whose sides differ (one volume of each collection)."""
    tokens, owners = _postings(fingerprints)
    starts = np.flatnonzero(np.r_[True, tokens[1:] != tokens[:-1]])
    sizes = np.diff(np.r_[starts, len(tokens)])
    pairs = [_pairs_of_groups(owners, starts[sizes == size], size) for size in range(2, MAX_POSTING + 1)]
    found = np.concatenate([np.empty((0, 2), np.int64), *pairs])
    if sides is not None:
        found = found[sides[found[:, 0]] != sides[found[:, 1]]]
    if not len(found):
        return found
    unique, counts = np.unique(found, axis=0, return_counts=True)
    return unique[counts >= MIN_SHARED]


def _cell_tokens(body: np.ndarray) -> np.ndarray:
    """BANDS tokens per slab (rows of 16 HU): a hash of the slab's cells on each band's offset grid."""
    tokens = []
    for band in range(BANDS):
        cells = np.floor((body + 1024.0 + _OFFSETS[band]) / LEVEL_HU).astype(np.uint64)
        with np.errstate(over="ignore"):  # a multiplicative hash: wrapping around is the point
            tokens.append((cells * _MULTIPLIERS[band]).sum(axis=1, dtype=np.uint64) + np.uint64(band))
    return np.concatenate(tokens)


def _postings(fingerprints: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Every (token, row) entry once, sorted by token; decoded in batches, all slabs of a batch at once."""
    tokens, owners = [], []
    for start in range(0, len(fingerprints), _BATCH):
        levels = [decode_levels(text) for text in fingerprints[start : start + _BATCH]]
        rows = np.repeat(np.arange(start, start + len(levels)), [len(v) if v is not None else 0 for v in levels])
        stacked = np.concatenate([np.empty((0, SLAB_BYTES), np.uint8), *(v for v in levels if v is not None)])
        body = stacked.max(axis=1) > 0
        hu = stacked[body].astype(np.float32) * HU_PER_LEVEL + AIR_HU
        tokens.append(_cell_tokens(hu))
        owners.append(np.tile(rows[body], BANDS))
    token, owner = np.concatenate([np.empty(0, np.uint64), *tokens]), np.concatenate([np.empty(0, np.int64), *owners])
    order = np.lexsort((owner, token))
    token, owner = token[order], owner[order]
    first = np.ones(len(token), dtype=bool)  # empty when no row has a fingerprint (a corpus built before them)
    first[1:] = (token[1:] != token[:-1]) | (owner[1:] != owner[:-1])
    return token[first], owner[first]


def _pairs_of_groups(owners: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    """All (i, j), i < j, within each group of ``size`` consecutive owners."""
    if not len(starts):
        return np.empty((0, 2), np.int64)
    members = np.sort(owners[starts[:, None] + np.arange(size)[None, :]], axis=1)
    first, second = np.triu_indices(size, k=1)
    return np.stack([members[:, first].ravel(), members[:, second].ravel()], axis=1).astype(np.int64)
