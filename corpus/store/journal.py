"""The work journal of a shard in progress: what survives a crash, and how it is committed.

A task writes each input's row (and thumbnails) to ``_work/shard-NNNNN/``
right after the input's array is complete, and only while its generation
still holds the lock. The lock holder commits a shard: it writes the
thumbnails part, then the manifest part (the commit point), then removes the
journal. Only arrays a journal entry vouches for are listed; the others in
the shard (written, then a crash or a fence) are removed first.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from corpus.faults import crash_point
from corpus.store.arrays import volume_names
from corpus.store.fence import Fence
from corpus.store.layout import (
    MANIFEST,
    SHARDS,
    WORK,
    is_journal_entry,
    journal_entry,
    shard_folder,
    shard_index,
    shard_name,
)
from corpus.store.location import Location
from corpus.store.lock import assert_live
from corpus.store.manifest import STATUS_OK, write_part
from corpus.store.thumbnails import write_thumbnails


@dataclass(frozen=True)
class Entry:
    row: dict[str, Any]
    thumbnails: dict[str, bytes]
    generation: int  # of the task that wrote it; 0 in journals from before generations


class Journal:
    def __init__(self, location: Location, index: int) -> None:
        self.location, self.index = location, index
        self.folder = shard_name(index)
        self.pruned = 0  # arrays the commit removed: no entry vouched for them

    def record(self, generation: int, row: dict[str, Any], thumbnails: dict[str, bytes] | None) -> None:
        """Journal one finished input (by a task of ``generation``, which must still hold the lock)."""
        assert_live(self.location, generation)
        encoded = {k: base64.b64encode(v).decode() for k, v in (thumbnails or {}).items()}
        entry = json.dumps({"generation": generation, "row": row, "thumbnails": encoded}, default=_plain).encode()
        number = len(self.location.list_names(WORK, self.folder))
        self.location.write_atomic(entry, WORK, self.folder, journal_entry(number))

    def entries(self) -> list[Entry]:
        found = []
        for name in self.location.list_names(WORK, self.folder):
            if is_journal_entry(name):
                entry = json.loads(self.location.read_bytes(WORK, self.folder, name))
                thumbs = {k: base64.b64decode(v) for k, v in entry["thumbnails"].items()}
                found.append(Entry(entry["row"], thumbs, int(entry.get("generation", 0))))
        return found

    def vouched(self) -> set[str]:
        """Volume ids whose arrays a journal entry vouches for (stored inputs)."""
        return {entry.row["volume_id"] for entry in self.entries() if entry.row["status"] == STATUS_OK}

    def commit(self, generation: int, owner: int | None = None) -> list[dict[str, Any]]:
        """Make the shard part of the corpus (by the lock holder of ``generation``); returns its rows.

        Only entries written by the generation the shard belongs to (``owner``, by
        default the committing one) count: no other generation writes there.
        """
        assert_live(self.location, generation)
        owner = generation if owner is None else owner
        entries = [entry for entry in self.entries() if entry.generation == owner]
        rows = [entry.row for entry in entries]
        self.pruned = _prune(
            self.location, self.index, {row["volume_id"] for row in rows if row["status"] == STATUS_OK}
        )
        if rows:
            thumbs = [{"volume_id": e.row["volume_id"], **e.thumbnails} for e in entries if e.thumbnails]
            write_thumbnails(self.location, self.index, thumbs)
            crash_point("between_parts")
            write_part(self.location, self.index, rows)
            crash_point("after_commit")
        self.location.remove_tree(WORK, self.folder)
        return rows


def committed_shards(location: Location) -> set[int]:
    """Indices of the shards whose manifest part exists."""
    return {i for i in (shard_index(name) for name in location.list_names(MANIFEST)) if i is not None}


def pending(location: Location, fence: Fence) -> list[int]:
    """Open shards an interrupted build journaled but did not commit."""
    committed = committed_shards(location)
    indices = (shard_index(name) for name in location.list_names(WORK))
    return sorted(i for i in indices if i is not None and i not in committed and fence.is_open(i))


def _prune(location: Location, index: int, keep: set[str]) -> int:
    """Remove arrays of this shard that no entry vouches for (written, then a crash or a fence); count them."""
    unvouched = [name for name in volume_names(location, shard_folder(index)) if name not in keep]
    for name in unvouched:
        location.discard(SHARDS, shard_folder(index), name)
    return len(unvouched)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so rows round-trip through JSON unchanged."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"Cannot journal {type(value).__name__} {value!r}")
