"""The work journal of a shard in progress: what survives a crash, and how it is committed.

Each input's row (and thumbnails) is written to ``_work/shard-NNNNN/`` right
after its array is complete. A shard is committed by writing its thumbnails
part and then its manifest part (the commit point), then the journal goes.
A later build first commits every journal a crash left behind, pruning
arrays that no journal row vouches for: nothing stored is lost, nothing
half-written is listed.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import zarr

from corpus.faults import crash_point
from corpus.store.layout import (
    MANIFEST,
    SHARDS,
    WORK,
    is_journal_entry,
    journal_entry,
    part_file,
    shard_folder,
    shard_index,
    shard_name,
)
from corpus.store.location import Location
from corpus.store.manifest import STATUS_OK, write_part
from corpus.store.thumbnails import write_thumbnails


class Journal:
    def __init__(self, location: Location, index: int) -> None:
        self.location, self.index = location, index
        self.folder = shard_name(index)

    def record(self, row: dict[str, Any], thumbnails: dict[str, bytes] | None) -> None:
        encoded = {k: base64.b64encode(v).decode() for k, v in (thumbnails or {}).items()}
        entry = json.dumps({"row": row, "thumbnails": encoded}, default=_plain).encode()
        number = len(self.location.list_names(WORK, self.folder))
        self.location.write_atomic(entry, WORK, self.folder, journal_entry(number))

    def entries(self) -> list[tuple[dict[str, Any], dict[str, bytes]]]:
        found = []
        for name in self.location.list_names(WORK, self.folder):
            if is_journal_entry(name):
                entry = json.loads(self.location.read_bytes(WORK, self.folder, name))
                thumbs = {k: base64.b64decode(v) for k, v in entry["thumbnails"].items()}
                found.append((entry["row"], thumbs))
        return found

    def commit(self) -> list[dict[str, Any]]:
        """Make the shard part of the corpus; returns its rows."""
        entries = self.entries()
        rows = [row for row, _ in entries]
        _prune(self.location, self.index, {row["volume_id"] for row in rows if row["status"] == STATUS_OK})
        if rows:
            thumbs = [{"volume_id": row["volume_id"], **t} for row, t in entries if t]
            write_thumbnails(self.location, self.index, thumbs)
            crash_point("between_parts")
            write_part(self.location, self.index, rows)
            crash_point("after_commit")
        self.location.remove_tree(WORK, self.folder)
        return rows


def pending(location: Location) -> list[int]:
    """Shards a crashed build left uncommitted."""
    committed = {shard_index(name) for name in location.list_names(MANIFEST)}
    indices = (shard_index(name) for name in location.list_names(WORK))
    return sorted(i for i in indices if i is not None and i not in committed)


def recover(location: Location) -> list[dict[str, Any]]:
    """Commit what crashed builds stored; returns the rows recovered."""
    rows = []
    for index in pending(location):
        rows.extend(Journal(location, index).commit())
    for name in location.list_names(WORK):  # journals of shards that did commit: leftovers
        committed = shard_index(name)
        if committed is not None and location.exists(MANIFEST, part_file(committed)):
            location.remove_tree(WORK, name)
    return rows


def _prune(location: Location, index: int, keep: set[str]) -> None:
    """Remove arrays of this shard that no row vouches for (written, then a crash)."""
    if not location.exists(SHARDS, shard_folder(index)):
        return
    group = zarr.open_group(location.zarr_store(SHARDS, shard_folder(index)), mode="a")
    for name in list(group.group_keys()):
        if name not in keep:
            del group[name]


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so rows round-trip through JSON unchanged."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"Cannot journal {type(value).__name__} {value!r}")
