"""Build generations and the shards each may commit: what keeps an interrupted build's tasks out of the corpus.

Every build (and every ``corpus verify --repair``) takes a new generation
with the lock. Shard indices are reserved per generation and never reused, so
two generations never write into one shard. When a generation takes over, it
commits what the previous one journaled (its *open* shards), then seals them:
from then on every uncommitted shard below ``first_shard`` is dead, and
whatever a task of an older generation still writes there is garbage that
no build will ever list.

The record lives in ``_work/fence.json`` and survives the lock; it is written
only by the lock holder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from corpus.store.layout import FENCE, MANIFEST, SHARDS, WORK, shard_index
from corpus.store.location import Location


@dataclass(frozen=True)
class Fence:
    generation: int = 0  # the last generation taken
    owner: int = 0  # the generation whose shards are open (it may have crashed before committing them)
    first_shard: int = 0  # open shards: first_shard .. next_shard - 1; uncommitted shards below are dead
    next_shard: int = 0  # the first index no generation has reserved

    def taken_by(self, generation: int) -> Fence:
        return replace(self, generation=generation)

    def sealed_by(self, generation: int, next_free: int) -> Fence:
        """After ``generation`` committed the open shards: none is open, new ones start at ``next_free`` or later."""
        start = max(self.next_shard, next_free)
        return Fence(generation, generation, start, start)

    def reserved(self, count: int) -> Fence:
        """``count`` more shards for the owner, from ``next_shard`` on."""
        return replace(self, next_shard=self.next_shard + count)

    def is_open(self, index: int) -> bool:
        """A shard the owner may still commit (or a later build recover), when it has no manifest part yet."""
        return index >= self.first_shard


def read_fence(location: Location) -> Fence:
    """The recorded fence; a corpus without one (new, or from before generations) starts from zero."""
    if not location.exists(WORK, FENCE):
        return Fence()
    return Fence(**json.loads(location.read_bytes(WORK, FENCE)))


def write_fence(location: Location, fence: Fence) -> None:
    location.write_atomic(json.dumps(asdict(fence)).encode(), WORK, FENCE)


def next_free_shard(location: Location) -> int:
    """One past the highest shard index anything under OUT uses (arrays, manifest parts, journals)."""
    names = location.list_names(SHARDS) + location.list_names(MANIFEST) + location.list_names(WORK)
    indices = [i for i in (shard_index(name) for name in names) if i is not None]
    return max(indices, default=-1) + 1
