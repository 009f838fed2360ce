"""`corpus leakage`: which volumes of a pre-training corpus are also in a downstream set.

A downstream set (``--against``) is one of

- another corpus (a folder or URL holding corpus.json): its stored volumes;
- a list file (``.txt``, or a JSON data list, ``btcv.json#validation``; corpus.lists):
  the volumes of *this* corpus it names, which leak themselves (rule ``listed``) along with everything joined to them;
- a folder or image files: built first into a temporary corpus with this
  corpus's spec and salt, then compared, then removed.

A pre-training volume leaks when it shares with a downstream volume its voxels
(``checksum``), its series (``series_key``), its patient (``subject_key``) or its
content (``fingerprint``: resampled, flipped, relabelled or cut; see
corpus.duplicates). Keys are compared only between corpora hashed with the same
salt (``CORPUS_SALT``, or the temporary corpus built here); otherwise the report
says so and compares checksums and fingerprints.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from corpus.duplicates.links import (
    CHECKSUM,
    FINGERPRINT,
    SERIES_KEY,
    SUBJECT_KEY,
    fingerprint_links,
    key_links,
    sharing_a_key,
)
from corpus.errors import SpecError
from corpus.lists import is_list_file, listed, read_list
from corpus.privacy import SALT_ENV, resolve_salt, salt_identity
from corpus.store.layout import CORPUS_JSON
from corpus.store.location import Location
from corpus.store.meta import read_meta
from corpus.store.reader import Corpus

LISTED = "listed"
_COLUMNS = ("volume_id", "source", "split", CHECKSUM, SERIES_KEY, SUBJECT_KEY, FINGERPRINT)


@dataclass(frozen=True)
class Leak:
    volume_id: str  # of the pre-training corpus
    source: str
    split: str
    rule: str
    against: str  # the downstream set as given
    match: str  # the downstream volume it duplicates or shares a subject with
    evidence: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in ("volume_id", "source", "split", "rule", "against", "match")},
                **self.evidence}  # fmt: skip


@dataclass
class Downstream:
    rows: pa.Table  # the downstream volumes' rows (for a list file: rows of the corpus itself)
    keys_comparable: bool
    listed: np.ndarray | None = None  # a list file: which rows of the corpus it names


def find_leaks(opened: Corpus, target: str, build_folders: bool = True) -> tuple[list[Leak], list[str]]:
    """Every leak of ``opened`` into ``target``, and notes on what could not be compared."""
    with downstream_set(opened, target, build_folders) as downstream:
        ours = opened.stored().select(list(_COLUMNS))
        if downstream.listed is not None:
            return _leaks_to_listed(ours, downstream.listed, target), []
        notes = [] if downstream.keys_comparable else [f"{target}: another salt, series and subject keys not compared"]
        return _leaks_between(ours, downstream.rows.select(list(_COLUMNS)), target, downstream.keys_comparable), notes


@contextmanager
def downstream_set(opened: Corpus, target: str, build_folders: bool) -> Iterator[Downstream]:
    """The downstream volumes named by ``target`` (a corpus, a list file, or a folder or files to build)."""
    location = Location(target)
    if location.exists(CORPUS_JSON):
        other = Corpus(target)
        comparable = salt_identity(read_meta(other.location)) == salt_identity(read_meta(opened.location))
        yield Downstream(other.stored(), comparable)
        return
    if is_list_file(target):
        rows = opened.stored()
        yield Downstream(rows, True, listed(rows, read_list(target)))
        return
    path = Path(target)
    if not path.exists():
        raise SpecError(f"--against {target!r}: no such corpus, list file, folder or image file")
    if not build_folders:
        raise SpecError(f"{target!r} is a folder or image file: build it with `corpus build`, then name the corpus")
    with tempfile.TemporaryDirectory(prefix="corpus-leakage-") as folder:
        yield Downstream(_build_temporary(opened, path, Path(folder) / "corpus").stored(), True)


def _build_temporary(opened: Corpus, path: Path, out: Path) -> Corpus:
    """``path`` built with this corpus's spec and salt, so checksums and keys compare."""
    from corpus.build import build_corpus
    from corpus.sources import discover

    with _salt_of(opened):
        build_corpus(discover([path], []), str(out), opened.spec, progress=False)
    return Corpus(str(out))


@contextmanager
def _salt_of(opened: Corpus) -> Iterator[None]:
    before = os.environ.get(SALT_ENV)
    os.environ[SALT_ENV] = resolve_salt(read_meta(opened.location))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SALT_ENV, None)
        else:
            os.environ[SALT_ENV] = before


def _leaks_between(ours: pa.Table, theirs: pa.Table, target: str, keys_comparable: bool) -> list[Leak]:
    both = pa.concat_tables([ours, theirs])
    sides = np.r_[np.zeros(ours.num_rows, dtype=np.int8), np.ones(theirs.num_rows, dtype=np.int8)]
    return _leaks(both, sides, target, (CHECKSUM, SERIES_KEY, SUBJECT_KEY) if keys_comparable else (CHECKSUM,))


def _leaks_to_listed(ours: pa.Table, named: np.ndarray, target: str) -> list[Leak]:
    rows = ours.to_pylist()
    leaks = [_leak(rows[row], LISTED, target, rows[row]["volume_id"], {}) for row in np.flatnonzero(named)]
    return leaks + _leaks(ours, named.astype(np.int8), target, (CHECKSUM, SERIES_KEY, SUBJECT_KEY))


def _leaks(both: pa.Table, sides: np.ndarray, target: str, key_rules: tuple[str, ...]) -> list[Leak]:
    """Links across sides (0: pre-training, 1: downstream), one leak per pre-training row and match."""
    keys = {rule: both.column(rule).to_pylist() for rule in key_rules}
    links = [link for rule, values in keys.items() for link in key_links(values, rule, sides)]
    links += fingerprint_links(both.column(FINGERPRINT).to_pylist(), sides, skip=sharing_a_key(list(keys.values())))
    rows = both.to_pylist()
    leaks = []
    for link in links:
        ours = [row for row in link.rows if sides[row] == 0]
        theirs = [row for row in link.rows if sides[row] == 1]
        leaks += [_leak(rows[a], link.rule, target, rows[b]["volume_id"], link.evidence) for a in ours for b in theirs]
    return leaks


def _leak(row: dict[str, Any], rule: str, target: str, match: str, evidence: dict[str, float]) -> Leak:
    return Leak(row["volume_id"], row["source"], row["split"], rule, target, match, evidence)
