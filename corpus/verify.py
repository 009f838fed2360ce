"""`corpus verify`: every listed array is there, decodes, and has its checksum and shape.

Problems (the corpus is not what its manifest says): a listed array missing,
unreadable or changed, a volume id listed twice. Leftovers (not part of the
corpus, no reader sees them): unlisted arrays, shards and journals an
interrupted build left, temporary files of killed writes, and shards an
interrupted build journaled but did not commit; ``--repair`` (or the next
build) commits the latter and removes the rest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from corpus.errors import EXIT_FATAL, EXIT_LEFTOVERS, EXIT_OK
from corpus.store.arrays import checksum
from corpus.store.fence import read_fence
from corpus.store.journal import pending
from corpus.store.layout import shard_name
from corpus.store.leftovers import find_leftovers
from corpus.store.location import Location
from corpus.store.lock import BuildLock, read_holder
from corpus.store.reader import Corpus
from corpus.store.recovery import TakeOver, take_over


@dataclass
class VerifyReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)  # the corpus differs from its manifest
    leftovers: list[str] = field(default_factory=list)  # not part of the corpus; --repair removes them
    running: str | None = None  # the live build whose shards in progress were not examined

    @property
    def ok(self) -> bool:
        """Every listed array is as listed (leftovers aside)."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        if self.problems:
            return EXIT_FATAL
        return EXIT_LEFTOVERS if self.leftovers else EXIT_OK


def verify_corpus(opened: Corpus, progress: bool = False) -> VerifyReport:
    report = VerifyReport()
    rows = opened.stored().to_pylist()
    for volume_id, count in Counter(row["volume_id"] for row in rows).items():
        if count > 1:
            report.problems.append(f"{volume_id}: listed {count} times")
    for row in tqdm(rows, desc="verify", unit="vol", disable=not progress or None):
        report.checked += 1
        problem = _check(opened, row)
        if problem:
            report.problems.append(f"{row['volume_id']}: {problem}")
    _find_leftovers(opened.location, report)
    return report


def repair_corpus(location: Location) -> TakeOver:
    """Take the lock, commit what interrupted builds journaled, and remove every leftover."""
    with BuildLock(location) as lock:
        return take_over(location, lock.generation)


def _find_leftovers(location: Location, report: VerifyReport) -> None:
    holder = read_holder(location)
    if holder is not None and not holder.is_stale():
        report.running = holder.describe()
    fence = read_fence(location)
    report.leftovers.extend(find_leftovers(location, fence, build_running=report.running is not None).describe())
    if report.running is None:
        report.leftovers.extend(
            f"{shard_name(index)}: uncommitted: an interrupted build journaled it; `corpus verify --repair` "
            "or the next build commits it"
            for index in pending(location, fence)
        )


def _check(opened: Corpus, row: dict[str, object]) -> str | None:
    try:
        array = opened.array(str(row["volume_id"]))
        if list(array.shape) != row["shape"]:
            return f"shape {list(array.shape)}, manifest says {row['shape']}"
        values = np.asarray(array[...])
    except Exception as error:  # noqa: BLE001 - any failure to read is what verify reports
        return f"cannot be read: {type(error).__name__}: {error}"
    if checksum(values) != row["checksum"]:
        return "checksum differs from the manifest (the array changed after it was built)"
    return None
