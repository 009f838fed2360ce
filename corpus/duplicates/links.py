"""Links between manifest rows: the same voxels, the same series, the same subject, the same scan.

Rules (each link keeps its evidence):

- ``checksum``: identical stored voxels;
- ``series_key``: one series by its identity (corpus.identity: a DICOM series
  and the UID-named file of the same series share it);
- ``subject_key``: one patient (used for leakage and split integrity, never
  to call two scans duplicates);
- ``fingerprint``: one scan resampled, re-oriented, stretched by a rewritten
  spacing or cut in z (corpus.duplicates.align), with its score.

Only the manifest is read: key rules group equal values, the fingerprint rule
aligns the pairs the token index proposes (corpus.duplicates.index).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from corpus.duplicates.align import align
from corpus.duplicates.index import candidate_pairs
from corpus.preprocess.fingerprint import decode

CHECKSUM, SERIES_KEY, SUBJECT_KEY, FINGERPRINT = "checksum", "series_key", "subject_key", "fingerprint"
DUPLICATE_KEYS = (CHECKSUM, SERIES_KEY)


@dataclass(frozen=True)
class Link:
    """Rows (indices into the table the links were found in) joined by one rule."""

    rule: str
    rows: tuple[int, ...]
    evidence: dict[str, float] = field(default_factory=dict)


def key_links(values: Sequence[str | None], rule: str, sides: np.ndarray | None = None) -> list[Link]:
    """One link per key value held by several rows (with ``sides``: by rows of different sides)."""
    holders: dict[str, list[int]] = defaultdict(list)
    for row, value in enumerate(values):
        if value:
            holders[value].append(row)
    groups = [rows for rows in holders.values() if len(rows) > 1]
    if sides is not None:
        groups = [rows for rows in groups if len(set(sides[rows].tolist())) > 1]
    return [Link(rule, tuple(rows)) for rows in groups]


def sharing_a_key(keys: Sequence[Sequence[str | None]]) -> Callable[[int, int], bool]:
    """Whether two rows share a value of any of ``keys`` (columns): such pairs need no fingerprint alignment."""

    def shared(first: int, second: int) -> bool:
        return any(values[first] and values[first] == values[second] for values in keys)

    return shared


def fingerprint_links(
    fingerprints: Sequence[str | None],
    sides: np.ndarray | None = None,
    skip: Callable[[int, int], bool] | None = None,
) -> list[Link]:
    """A link per candidate pair whose fingerprints align as one scan; ``skip`` spares pairs already known."""
    links = []
    decoded: dict[int, np.ndarray | None] = {}  # a row in many candidate pairs is decoded once

    def fingerprint(row: int) -> np.ndarray | None:
        if row not in decoded:
            decoded[row] = decode(fingerprints[row])
        return decoded[row]

    for first, second in candidate_pairs(fingerprints, sides).tolist():
        if skip is not None and skip(first, second):
            continue
        a, b = fingerprint(first), fingerprint(second)
        found = align(a, b) if a is not None and b is not None else None
        if found is not None and found.is_duplicate:
            links.append(Link(FINGERPRINT, (first, second), found.evidence()))
    return links
