"""Blocking: which pairs of fingerprints are worth aligning, without comparing every pair.

Each body slab of a fingerprint gives BANDS tokens: its 16 box values cut into
LEVEL_HU cells, each band on its own offset grid (a value near a cell edge
in one band sits inside a cell of the other). A slab's descriptor does not
depend on z spacing or crop, so the same scan, however stretched or cut,
shares many tokens with itself (8 or more in the phantom tests); volumes
sharing at least MIN_SHARED tokens become candidates. A token held by more
than MAX_POSTING volumes describes anatomy everyone has and is skipped, so
the work grows with the number of volumes, not with its square.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus.preprocess.fingerprint import decode

BANDS = 2
LEVEL_HU = 32.0
MIN_SHARED = 4
MAX_POSTING = 16
_OFFSETS = np.random.default_rng(16).uniform(0.0, LEVEL_HU, size=(BANDS, 16))  # fixed: tokens must be reproducible
_MULTIPLIERS = np.random.default_rng(17).integers(1, 2**62, size=(BANDS, 16), dtype=np.uint64) | np.uint64(1)


def slab_tokens(fingerprint: np.ndarray) -> np.ndarray:
    """The distinct tokens of one fingerprint (slabs x 16 HU, NaN rows = no body), as uint64."""
    body = fingerprint[~np.isnan(fingerprint[:, 0])]
    tokens = []
    for band in range(BANDS):
        cells = np.floor((body + 1024.0 + _OFFSETS[band]) / LEVEL_HU).astype(np.uint64)
        with np.errstate(over="ignore"):  # a multiplicative hash: wrapping around is the point
            tokens.append((cells * _MULTIPLIERS[band]).sum(axis=1, dtype=np.uint64) + np.uint64(band))
    return np.unique(np.concatenate(tokens)) if tokens else np.empty(0, np.uint64)


def candidate_pairs(fingerprints: Sequence[str | None], sides: np.ndarray | None = None) -> np.ndarray:
    """(k, 2) row pairs i < j whose stored fingerprints share at least MIN_SHARED specific tokens; with
    ``sides``, only pairs whose sides differ (one volume of each collection)."""
    tokens, owners = _postings(fingerprints)
    order = np.argsort(tokens, kind="stable")
    tokens, owners = tokens[order], owners[order]
    starts = np.flatnonzero(np.r_[True, tokens[1:] != tokens[:-1]])
    sizes = np.diff(np.r_[starts, len(tokens)])
    pairs = [_pairs_of_groups(owners, starts[sizes == size], size) for size in range(2, MAX_POSTING + 1)]
    found = np.concatenate([p for p in pairs if len(p)]) if any(len(p) for p in pairs) else np.empty((0, 2), np.int64)
    if sides is not None:
        found = found[sides[found[:, 0]] != sides[found[:, 1]]]
    if not len(found):
        return found
    unique, counts = np.unique(found, axis=0, return_counts=True)
    return unique[counts >= MIN_SHARED]


def _postings(fingerprints: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Every (token, row) entry, one per token per volume (decoded one at a time: 160K at once would not fit)."""
    per_volume = [_tokens_of(blob) for blob in fingerprints]
    tokens = np.concatenate(per_volume) if per_volume else np.empty(0, np.uint64)
    owners = np.repeat(np.arange(len(per_volume)), [len(t) for t in per_volume])
    return tokens, owners


def _tokens_of(blob: str | None) -> np.ndarray:
    decoded = decode(blob)
    return slab_tokens(decoded) if decoded is not None else np.empty(0, np.uint64)


def _pairs_of_groups(owners: np.ndarray, starts: np.ndarray, size: int) -> np.ndarray:
    """All (i, j), i < j, within each group of ``size`` consecutive owners."""
    if not len(starts):
        return np.empty((0, 2), np.int64)
    members = np.sort(owners[starts[:, None] + np.arange(size)[None, :]], axis=1)
    first, second = np.triu_indices(size, k=1)
    return np.stack([members[:, first].ravel(), members[:, second].ravel()], axis=1).astype(np.int64)
