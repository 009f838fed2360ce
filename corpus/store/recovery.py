"""What a new lock holder does first: commit what the previous generation journaled, seal, clean up.

In this order, with the lock held (corpus.store.lock):

1. commit every open shard an interrupted build journaled (nothing stored is lost);
2. seal: no shard reserved so far is open any more, so whatever a task of an
   older generation still writes can never be committed (corpus.store.fence);
3. remove every leftover (corpus.store.leftovers).

A task of an older generation that passed its last lock check just before
step 1 may still finish one write after step 3: it lands in a sealed or
committed shard, unlisted, and the next build or ``corpus verify --repair``
removes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpus.store.fence import Fence, next_free_shard, read_fence, write_fence
from corpus.store.journal import Journal, pending
from corpus.store.leftovers import Leftovers, find_leftovers, remove_leftovers
from corpus.store.location import Location


@dataclass
class TakeOver:
    fence: Fence  # sealed: this generation owns no shard yet
    recovered: list[dict[str, Any]] = field(default_factory=list)  # rows an interrupted build had journaled
    removed: int = 0  # leftovers removed
    kept: Leftovers = field(default_factory=Leftovers)  # leftovers still being written; the next clean-up takes them


def take_over(location: Location, generation: int) -> TakeOver:
    """Recover, seal and clean OUT for ``generation``, which holds the lock."""
    fence = read_fence(location)
    journals = [Journal(location, index) for index in pending(location, fence)]
    recovered = [row for journal in journals for row in journal.commit(generation, fence.owner)]
    fence = fence.sealed_by(generation, next_free_shard(location))
    write_fence(location, fence)
    report = TakeOver(fence, recovered)
    report.removed, report.kept = clean_up(location, fence)
    report.removed += sum(journal.pruned for journal in journals)
    return report


def clean_up(location: Location, fence: Fence) -> tuple[int, Leftovers]:
    """Remove every leftover (lock held, no task of the holder running); returns (removed, kept)."""
    found = find_leftovers(location, fence)
    kept = remove_leftovers(location, found)
    return len(found) - len(kept), kept
